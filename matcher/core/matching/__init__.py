"""Matching, pure: the rules a policy sets (:mod:`.rules`), keyed blocking (:mod:`.blocking`),
Dice similarity of Bloom filters (:mod:`.similarity`), the overlap condition (:mod:`.overlap`),
the lanes' polars plans (:mod:`.plans`) and :func:`find_hits`, which collects them (:mod:`.find`).

Nothing here reads files or a database: the caller passes every extract in as a LazyFrame.
"""

from matcher.core.matching.find import HIT_SCHEMA, ExtractSchemaError, find_hits

__all__ = ["HIT_SCHEMA", "ExtractSchemaError", "find_hits"]
