"""Skyddad identitet fails closed: where the flag is, and the rule that a profile must say so.

People with a protected identity (sekretessmarkering, skyddad folkbokföring) must never be
pseudonymised, so a profile that maps no column to ``protected_identity`` is refused by
``check`` and ``pseudonymise`` unless it states, on purpose and signed with a name, that the
export holds no protected identities::

    [constants]
    protected_identity = false
    protected_identity_confirmed_by = "Anna Berg, registrator, 2026-12-03"

A column whose header looks like a protection flag and is left unmapped is an error too, never
"stays local": the flag is the one column whose absence from the mapping is a leak. So is,
when no column is mapped as the flag, a column whose header says nothing but whose values are
only yes/no-like words (J/N, Ja/Nej, 1/0, X/empty, true/false, "Skyddad") and that no other
field explains: a flag exported as "F7" or "kod2". A column that only looks like one (a
sublet-approved J/N column nobody mapped) is declared on purpose::

    [protection]
    not_flags = ["kod2"]
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping
from typing import Final

__all__ = [
    "CONFIRMED_BY_KEY",
    "PROTECTION_HEADER_WORDS",
    "looks_like_protection_flag",
    "protection_problems",
]

CONFIRMED_BY_KEY: Final = "protected_identity_confirmed_by"

# Folded (lower case, no diacritics); a header containing one of them is a protection flag.
PROTECTION_HEADER_WORDS: Final = (
    "skydd",  # skyddad identitet, skyddade personuppgifter, skyddad folkbokföring
    "sekretess",  # sekretessmarkering
    "sparr",  # spärr, spärrmarkering
    "kvarskriv",  # kvarskrivning
    "fingerad",  # fingerade personuppgifter
    "protected",
    "protection",
    "confidential",
    "secrecy",
)
# Abbreviations that only count as whole words ("Sekr.", "Prot").
_WHOLE_WORDS: Final = frozenset({"sekr", "prot", "skyd"})


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def looks_like_protection_flag(header: str) -> bool:
    """Does this column name look like a skyddad-identitet flag (Swedish or English)?"""
    folded = _fold(header)
    if any(word in folded for word in PROTECTION_HEADER_WORDS):
        return True
    return any(word in _WHOLE_WORDS for word in re.split(r"[^0-9a-z]+", folded))


def protection_problems(
    mapping: Mapping[str, str],
    constants: Mapping[str, str],
    confirmed_by: str | None,
    header: Iterable[str] = (),
    flag_valued: Iterable[str] = (),
    not_flags: Collection[str] = (),
) -> list[str]:
    """Why a run with this mapping could let protected rows through (empty when it can not).

    `header` is the export's header when it has been read: a protection-looking column that is
    not the mapped one is reported too. `flag_valued` are the export's columns whose values
    look like a protection flag and that no field is mapped to; they count only when no column
    is mapped as the flag. Columns in `not_flags` were declared not to be flags.
    """
    problems: list[str] = []
    mapped = mapping.get("protected_identity")
    if mapped is None and "protected_identity" not in constants:
        problems.append(
            "no column is mapped to protected_identity (skyddad identitet): rows of people with "
            "a protected identity would be pseudonymised. Map the flag column under [mapping] "
            '(protected_identity = "<column>"); if the export really holds no protected '
            "identities, say so under [constants] with protected_identity = false and "
            f'{CONFIRMED_BY_KEY} = "<your name, role, date>" (docs/data-officer.md)'
        )
    elif mapped is None and confirmed_by is None:
        problems.append(
            f"[constants] protected_identity = false needs {CONFIRMED_BY_KEY} = "
            '"<your name, role, date>": who checked that the export holds no protected identities'
        )
    loose = mapped.strip().casefold() if mapped is not None else None
    declared = {c.strip().casefold() for c in not_flags}
    for column in header:
        folded = column.strip().casefold()
        if folded != loose and folded not in declared and looks_like_protection_flag(column):
            problems.append(
                f'column "{column}" looks like a protection flag (skyddad identitet) but is not '
                "mapped; map it as protected_identity under [mapping] (an unmapped flag would "
                "let protected rows through); if it is something else, rename it in the export "
                + _declare(column)
            )
    if mapped is None:
        for column in flag_valued:
            if column.strip().casefold() in declared:
                continue
            problems.append(
                f'column "{column}" holds only yes/no-like values (such as J/N, 1/0, X or '
                "empty), as a protection flag (skyddad identitet) does, and no field is mapped "
                "to it: map it as protected_identity under [mapping] if it is the flag; if it "
                "is something else (sublet approved, say), map it to that field " + _declare(column)
            )
    return problems


def _declare(column: str) -> str:
    return (
        "or declare that it is not a protection flag (checked by you) in the profile: "
        f'[protection] not_flags = ["{column}"]'
    )
