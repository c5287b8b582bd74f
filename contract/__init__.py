"""The wire contract between a housing company's connector and the matcher.

Both sides import this module and nothing else of each other: the upload package format
(`records.parquet` column names and types, `manifest.json` fields), the canonical JSON used for
signatures and digests, and the fingerprint of the matcher's reveal public key.

A package is a folder (or a multipart upload) with two files:

* ``records.parquet``: one row per tenancy record, the columns listed below, in random order.
  No plaintext personal data: identities are keyed HMAC tokens, keyed blocking keys and keyed
  Bloom filters, one filter column per (filter, blocking pass): ``filter_<name>__<pass>``,
  salted with the record's key of that pass (:func:`filter_column`); revealable fields are
  AES-256-GCM sealed under a per-extract data key, with a random nonce, over a plaintext padded
  to a size class (:func:`pad_sealed`), so a ciphertext's length tells only the class.
* ``manifest.json``: a :class:`Manifest`, signed with the company's Ed25519 key over
  :func:`signing_payload`.

Changing anything here is a contract change: bump :data:`CONTRACT_VERSION`. Version 2 (issue 9)
replaced version 1's pooled, globally keyed name filter, row-index nonces and unpadded sealed
values; the matcher refuses version-1 packages (the connector must be upgraded and the extract
made again).
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
    "PASS_SEPARATOR",
    "PLAIN_REVEALABLE_FIELDS",
    "RECORDS_FILE",
    "REF_COLUMN",
    "REVEALABLE_FIELDS",
    "SEALED_FIELDS",
    "SEALED_PREFIX",
    "SEALED_SIZE_CLASSES",
    "TENANT_ROLES",
    "TOKEN_FIELDS",
    "TOKEN_PREFIX",
    "BloomFilterSpec",
    "EncodingParameters",
    "Manifest",
    "RevealKem",
    "canonical_json",
    "encoding_digest",
    "filter_column",
    "hpke_info",
    "pad_sealed",
    "pem_blocks",
    "pem_fingerprint",
    "sealed_associated_data",
    "sealed_column",
    "signing_payload",
    "token_column",
    "unpad_sealed",
]

CONTRACT_VERSION: Final = "2"

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
    "sublet_approved",
    "phone",
    "email",
)

# Revealable fields the matcher already holds in plain columns (it needs them for the overlap
# condition): a disclosure takes them from there, so they are not sealed a second time.
# `tenant_role` and `sublet_approved` are sealed instead (issue 9): no rule uses them, and as plain
# columns they made 51 % of rows unique on the plain columns alone.
PLAIN_REVEALABLE_FIELDS: Final = ("contract_start", "contract_end", "contract_type")

# One `sealed_<field>` column each: random nonce (12 bytes) || AES-256-GCM ciphertext || tag (16
# bytes) under the extract's data key, associated data = sealed_associated_data(extract, ref,
# field); the plaintext is pad_sealed(value), so every value is 28 + a size class bytes long.
SEALED_FIELDS: Final = tuple(f for f in REVEALABLE_FIELDS if f not in PLAIN_REVEALABLE_FIELDS)

REF_COLUMN: Final = "ref"
TOKEN_PREFIX: Final = "token_"  # noqa: S105 - a column-name prefix
BLOCK_PREFIX: Final = "block_"
FILTER_PREFIX: Final = "filter_"
SEALED_PREFIX: Final = "sealed_"
# filter_<name>__<pass>: filter <name> salted with the record's blocking key of pass <pass>.
PASS_SEPARATOR: Final = "__"  # noqa: S105 - a column-name separator

# Sealed plaintexts are padded to the smallest class that holds 2 + their UTF-8 length (a 2-byte
# length prefix), beyond the last class to a multiple of it: names, addresses and e-mail
# addresses fit 32 or 64 bytes, so the length of a ciphertext says next to nothing.
SEALED_SIZE_CLASSES: Final = (32, 64, 128, 256)

# Plain contract columns: the matcher needs them for the overlap condition.
# polars dtypes by name, so this module stays free of polars.
CONTRACT_COLUMNS: Final[Mapping[str, str]] = {
    "contract_start": "Date",
    "contract_end": "Date",  # null = ongoing
    "contract_type": "String",  # one of CONTRACT_TYPES
}
# Sealed like names: `tenant_role` (one of TENANT_ROLES) and `sublet_approved` ("true"/"false"),
# each null when unknown.
# `ref` is String (lower-case hex); token_*, block_*, filter_* and sealed_* are Binary.

RevealKem = Literal["X25519", "MLKEM768-X25519"]


def token_column(field: str) -> str:
    return f"{TOKEN_PREFIX}{field}"


def sealed_column(field: str) -> str:
    return f"{SEALED_PREFIX}{field}"


def filter_column(name: str, blocking_pass: str) -> str:
    """The column of filter ``name`` salted for one blocking pass, e.g. ``filter_name__dob_first``.

    The matcher compares a candidate pair found in pass ``p`` with the ``__p`` columns only:
    filters of different passes (and of different blocks of one pass) share no hash function.
    """
    return f"{FILTER_PREFIX}{name}{PASS_SEPARATOR}{blocking_pass}"


def _size_class(length: int) -> int:
    for size in SEALED_SIZE_CLASSES:
        if length <= size:
            return size
    last = SEALED_SIZE_CLASSES[-1]
    return -(-length // last) * last


def pad_sealed(value: str) -> bytes:
    """The plaintext that is sealed for ``value``: 2-byte big-endian length, UTF-8, zero padding.

    The length prefix is inside the ciphertext, so only the size class shows from outside.
    """
    data = value.encode("utf-8")
    if len(data) > 0xFFFF:
        raise ValueError("a sealed value is at most 65535 bytes")
    framed = len(data).to_bytes(2, "big") + data
    return framed.ljust(_size_class(len(framed)), b"\0")


def unpad_sealed(plain: bytes) -> str:
    """The value inside a :func:`pad_sealed` plaintext; ValueError when it is not one."""
    if len(plain) < 2 or len(plain) != _size_class(len(plain)):
        raise ValueError("not a padded sealed plaintext")
    length = int.from_bytes(plain[:2], "big")
    if 2 + length > len(plain) or any(plain[2 + length :]):
        raise ValueError("not a padded sealed plaintext")
    return plain[2 : 2 + length].decode("utf-8")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BloomFilterSpec(_Frozen):
    """How one keyed Bloom filter column is built (see connectors/pseudonymise/bloom.py)."""

    name: str  # column filter_<name>
    fields: tuple[str, ...]  # canonical fields whose q-grams go in
    length_bits: int = Field(gt=0, multiple_of=64)
    q: int = Field(ge=1, le=4)
    hashes_per_qgram: int = Field(ge=1)
    hardening: str  # e.g. "per-block-keyed+balanced"; part of the digest


class EncodingParameters(_Frozen):
    """Everything that decides whether two companies' tokens and filters are comparable.

    Two extracts can only be matched when their :func:`encoding_digest` is equal.
    """

    scheme: str = "crosscheck-clk-v2"
    token_fields: tuple[str, ...] = TOKEN_FIELDS
    token_bytes: int = 32
    blocking_keys: tuple[str, ...]
    block_bytes: int = 16
    filters: tuple[BloomFilterSpec, ...]  # each one column per blocking key (filter_column)
    sealed_fields: tuple[str, ...] = SEALED_FIELDS
    sealed_size_classes: tuple[int, ...] = SEALED_SIZE_CLASSES
    normalisation: str = "crosscheck-norm-v1"

    def filter_columns(self) -> tuple[str, ...]:
        """Every ``filter_<name>__<pass>`` column, filters outer, passes inner."""
        return tuple(
            filter_column(spec.name, key) for spec in self.filters for key in self.blocking_keys
        )


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
