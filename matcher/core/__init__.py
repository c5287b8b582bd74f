"""Pure domain logic of the matcher: records, rules, blocking, similarity, policy, audit tree."""

__all__: list[str] = []
