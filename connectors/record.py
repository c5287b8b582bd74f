"""The canonical tenancy record: which fields a profile may map, which it must, which it may not,
and the columns of the normalised frame that flows from normalisation into pseudonymisation.

This is the connector's field allowlist (docs/architecture.md, "The canonical tenancy record"):
only these fields can ever leave the company, and only in pseudonymised or sealed form.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "CANONICAL_FIELDS",
    "DATE_FIELDS",
    "EXCLUSION_REASONS",
    "FORBIDDEN_FIELD_WORDS",
    "NORMALISED_COLUMNS",
    "REQUIRED_FIELDS",
    "ROW_COLUMN",
]

# Every field a mapping profile may map a source column (or a constant) to.
CANONICAL_FIELDS: Final = (
    "record_id",
    "national_id",
    "contract_start",
    "first_name",
    "last_name",
    "full_name",
    "birth_date",
    "street_address",
    "postal_code",
    "city",
    "apartment_number",
    "contract_id",
    "contract_end",
    "contract_type",
    "tenant_role",
    "sublet_approved",
    "phone",
    "email",
    "protected_identity",
)

REQUIRED_FIELDS: Final = ("record_id", "national_id", "contract_start")

DATE_FIELDS: Final = ("contract_start", "contract_end", "birth_date")

# Special categories and proxies for them (GDPR art. 9, and discrimination risk): a profile that
# maps any of these, under any spelling, is refused rather than silently ignored.
FORBIDDEN_FIELD_WORDS: Final = (
    "nationality",
    "citizenship",
    "language",
    "ethnicity",
    "religion",
    "health",
    "gender",
    "sex",
    "nationalitet",
    "medborgarskap",
    "språk",
    "etnicitet",
    "religion",
    "hälsa",
    "kön",
)

# Keys of report.json `rows_excluded`.
EXCLUSION_REASONS: Final = (
    "invalid_national_id",
    "missing_required",
    "protected_identity",
    "minor",
    "duplicate_record_id",
    "unparseable_date",
    "invalid_value",
)

# The file row a record came from, as a person counts rows in the file (header = row 1).
ROW_COLUMN: Final = "row"

# The normalised frame (output of connectors.normalise, input of connectors.pseudonymise).
# Display columns keep the readable value for sealing; *_key columns are the fuzzy forms.
NORMALISED_COLUMNS: Final = {
    ROW_COLUMN: "UInt32",
    "record_id": "String",
    "national_id": "String",  # canonical form of the scheme (se: 12 digits)
    "birth_date": "Date",
    "first_name": "String",  # display: NFC, trimmed, single spaces
    "last_name": "String",
    "first_name_key": "String",  # fuzzy: case-folded, diacritics folded, no punctuation
    "last_name_key": "String",
    "street_address": "String",  # display
    "street_name_key": "String",
    "street_number": "String",
    "street_letter": "String",
    "postal_code": "String",  # 5 digits
    "city": "String",
    "city_key": "String",
    "apartment_number": "String",  # 4 digits
    "contract_id": "String",
    "contract_start": "Date",
    "contract_end": "Date",
    "contract_type": "String",  # contract.CONTRACT_TYPES
    "tenant_role": "String",  # contract.TENANT_ROLES or null
    "sublet_approved": "Boolean",
    "phone": "String",  # E.164
    "email": "String",  # trimmed, lower-cased
}
