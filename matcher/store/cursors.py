"""Opaque page cursors of the API's lists (hits, audit entries): the last row id seen.

A cursor is base64url of ``{"after": id}``; it carries no personal data, and a cursor the API
did not hand out (unreadable, or an id outside 0..MAX_ROW_ID) is refused as invalid input.
"""

from __future__ import annotations

import base64
import binascii
import json

from matcher.errors import InvalidInput
from matcher.store.database import MAX_ROW_ID

__all__ = ["decode_cursor", "encode_cursor"]


def encode_cursor(after: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, start: int) -> int:
    """The id after which the next page starts; `start` when there is no cursor."""
    if not cursor:
        return start
    refused = InvalidInput("the cursor is not one this API returned; start without one")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        after = json.loads(base64.urlsafe_b64decode(padded))["after"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise refused from None
    if not isinstance(after, int) or isinstance(after, bool) or not 0 <= after <= MAX_ROW_ID:
        raise refused
    return after
