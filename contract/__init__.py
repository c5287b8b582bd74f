"""The wire contract between a housing company's connector and the matcher.

Both sides import this module and nothing else of each other: the upload package format
(`records.parquet` column names and types, `manifest.json` fields), the canonical JSON used for
signatures and digests, and the fingerprint of the matcher's reveal public key.

A package is a folder (or a multipart upload) with two files:

* ``records.parquet``: one row per tenancy record, the columns listed below. No plaintext
  personal data: identities are keyed HMAC tokens, keyed Bloom filters and keyed blocking keys;
  revealable fields are AES-256-GCM sealed under a per-extract data key.
* ``manifest.json``: a :class:`Manifest`, signed with the company's Ed25519 key over
  :func:`signing_payload`.

Changing anything here is a contract change: bump :data:`CONTRACT_VERSION`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Final, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "BLOCK_PREFIX",
    "CONTRACT_COLUMNS",
    "CONTRACT_TYPES",
    "CONTRACT_VERSION",
    "FILTER_PREFIX",
    "MANIFEST_FILE",
    "PLAIN_REVEALABLE_FIELDS",
    "RECORDS_FILE",
    "REF_COLUMN",
    "REVEALABLE_FIELDS",
    "SEALED_FIELDS",
    "SEALED_PREFIX",
    "TENANT_ROLES",
    "TOKEN_FIELDS",
    "TOKEN_PREFIX",
    "BloomFilterSpec",
    "EncodingParameters",
    "Manifest",
    "RevealKem",
    "canonical_json",
    "encoding_digest",
    "hpke_info",
    "pem_blocks",
    "pem_fingerprint",
    "sealed_associated_data",
    "sealed_column",
    "signing_payload",
    "token_column",
]

CONTRACT_VERSION: Final = "1"

RECORDS_FILE: Final = "records.parquet"
MANIFEST_FILE: Final = "manifest.json"

CONTRACT_TYPES: Final = ("residential", "student", "parking", "storage", "commercial")
TENANT_ROLES: Final = ("primary", "co_tenant")

# Exact-lane identity fields, each with its own HKDF subkey; column `token_<field>`.
TOKEN_FIELDS: Final = ("national_id", "birth_date", "phone", "email")

# Fields a policy may reveal. Never anything outside the canonical record
# (docs/architecture.md, "The canonical tenancy record").
REVEALABLE_FIELDS: Final = (
    "national_id",
    "first_name",
    "last_name",
    "birth_date",
    "street_address",
    "postal_code",
    "city",
    "apartment_number",
    "contract_id",
    "contract_start",
    "contract_end",
    "contract_type",
    "tenant_role",
    "phone",
    "email",
)

# Revealable fields the matcher already holds in plain columns (it needs them for the overlap
# condition): a disclosure takes them from there, so they are not sealed a second time.
PLAIN_REVEALABLE_FIELDS: Final = ("contract_start", "contract_end", "contract_type", "tenant_role")

# One `sealed_<field>` column each: nonce (12 bytes) || AES-256-GCM ciphertext || tag (16 bytes),
# under the extract's data key, associated data = sealed_associated_data(extract, ref, field).
SEALED_FIELDS: Final = tuple(f for f in REVEALABLE_FIELDS if f not in PLAIN_REVEALABLE_FIELDS)

REF_COLUMN: Final = "ref"
TOKEN_PREFIX: Final = "token_"  # noqa: S105 - a column-name prefix
BLOCK_PREFIX: Final = "block_"
FILTER_PREFIX: Final = "filter_"
SEALED_PREFIX: Final = "sealed_"

# Plain contract columns: the matcher needs them for the overlap condition.
# polars dtypes by name, so this module stays free of polars.
CONTRACT_COLUMNS: Final[Mapping[str, str]] = {
    "contract_start": "Date",
    "contract_end": "Date",  # null = ongoing
    "contract_type": "String",  # one of CONTRACT_TYPES
    "tenant_role": "String",  # one of TENANT_ROLES, null when unknown
    "sublet_approved": "Boolean",  # null when unknown
}
# `ref` is String (lower-case hex); token_*, block_*, filter_* and sealed_* are Binary.

RevealKem = Literal["X25519", "MLKEM768-X25519"]


def token_column(field: str) -> str:
    return f"{TOKEN_PREFIX}{field}"


def sealed_column(field: str) -> str:
    return f"{SEALED_PREFIX}{field}"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BloomFilterSpec(_Frozen):
    """How one keyed Bloom filter column is built (see connectors/pseudonymise/bloom.py)."""

    name: str  # column filter_<name>
    fields: tuple[str, ...]  # canonical fields whose q-grams go in
    length_bits: int = Field(gt=0, multiple_of=64)
    q: int = Field(ge=1, le=4)
    hashes_per_qgram: int = Field(ge=1)
    hardening: str  # e.g. "balanced" or "none"; part of the digest


class EncodingParameters(_Frozen):
    """Everything that decides whether two companies' tokens and filters are comparable.

    Two extracts can only be matched when their :func:`encoding_digest` is equal.
    """

    scheme: str = "crosscheck-clk-v1"
    token_fields: tuple[str, ...] = TOKEN_FIELDS
    token_bytes: int = 32
    blocking_keys: tuple[str, ...]
    block_bytes: int = 16
    filters: tuple[BloomFilterSpec, ...]
    sealed_fields: tuple[str, ...] = SEALED_FIELDS
    normalisation: str = "crosscheck-norm-v1"


class Manifest(_Frozen):
    """manifest.json. `signature` is Ed25519 over :func:`signing_payload` (base64)."""

    contract_version: str = CONTRACT_VERSION
    company_id: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    extract_id: UUID
    as_of: date
    created_at: datetime
    matching_key_epoch: str
    reveal_key_fingerprint: str
    reveal_kem: RevealKem = "X25519"
    encoding: EncodingParameters
    encoding_digest: str
    row_count: int = Field(ge=0)
    records_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    wrapped_data_key: str  # base64 of the HPKE ciphertext (enc || ct)
    signature: str = ""

    def unsigned(self) -> dict[str, Any]:
        """The manifest as the JSON object that is signed (everything but `signature`)."""
        data = self.model_dump(mode="json")
        data.pop("signature")
        return data


def canonical_json(value: Any) -> bytes:
    """RFC 8785-style canonical JSON: sorted keys, no insignificant spaces, UTF-8.

    Values in the contract are strings, integers, booleans, null, lists and objects; floats are
    not used, which keeps this equal to JCS without a number serialiser.
    """
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def encoding_digest(params: EncodingParameters) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(params.model_dump(mode="json"))).hexdigest()


def signing_payload(manifest: Manifest) -> bytes:
    """The exact bytes the company signs: a domain tag and the canonical unsigned manifest."""
    return b"crosscheck-manifest-v1\n" + canonical_json(manifest.unsigned())


def sealed_associated_data(extract_id: UUID, ref: str, field: str) -> bytes:
    """AES-GCM associated data of one sealed field: binds it to extract, record and field."""
    return canonical_json([str(extract_id), ref, field])


def hpke_info(company_id: str, extract_id: UUID) -> bytes:
    """HPKE `info` for wrapping an extract's data key: binds the key to company and extract."""
    return b"crosscheck-data-key-v1\n" + canonical_json([company_id, str(extract_id)])


def pem_blocks(pem: bytes) -> list[bytes]:
    """The PEM blocks of a key file, each with its BEGIN/END lines, in file order.

    Reveal key files hold one block (X25519) or two (ML-KEM-768 first, then X25519).
    """
    blocks: list[bytes] = []
    current: list[bytes] = []
    for line in pem.splitlines(keepends=True):
        if line.startswith(b"-----BEGIN "):
            current = [line]
        elif current:
            current.append(line)
            if line.startswith(b"-----END "):
                blocks.append(b"".join(current))
                current = []
    return blocks


def pem_fingerprint(pem: bytes) -> str:
    """Fingerprint of a reveal public key file: SHA-256 over the DER of its PEM blocks, in order.

    An X25519 key file has one block; an ML-KEM-768+X25519 file has two (ML-KEM first).
    Shown as the first 32 hex digits, which is what manifests and profiles carry.
    """
    blocks = pem_blocks(pem)
    if not blocks:
        raise ValueError("not a PEM public key file")
    digest = hashlib.sha256()
    for block in blocks:
        body = b"".join(block.splitlines()[1:-1])
        try:
            digest.update(base64.b64decode(body, validate=True))
        except ValueError:
            raise ValueError("malformed PEM block") from None
    return digest.hexdigest()[:32]
