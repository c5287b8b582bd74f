"""Crosscheck matcher: the central service that accepts signed pseudonymised uploads, finds
overlaps between housing companies and shows each hit only to the people it concerns."""

__all__: list[str] = []
