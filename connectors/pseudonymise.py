"""Pseudonymisation: every piece of cryptography the connector does, and nothing else.

This is the only connector module that imports ``cryptography``. It holds the keys (matching key,
company-local key, Ed25519 signing key, the matcher's HPKE reveal key), the per-extract data key,
and the :class:`Encoder` that turns normalised tenancy rows into the columns of
``records.parquet`` (see :mod:`matcher.contract`). A sealed value or wrapped key that does not
open raises the one opaque :class:`~connectors.errors.SealError`.

Keys and subkeys
    Every token, blocking key and Bloom filter has its own 256-bit subkey,
    ``HKDF-SHA256(matching key, salt = epoch id, info = "crosscheck/v1/<kind>/<name>")`` with
    kind ``token``, ``block`` or ``filter``, so equal strings in different fields never give
    equal outputs. ``ref`` uses ``HKDF-SHA256(local key, salt = "crosscheck/v1/local",
    info = "crosscheck/v1/ref")``: only the company can link a ref to its record id.
    Tokens are HMAC-SHA256 (32 bytes); blocking keys HMAC-SHA256 truncated to
    ``block_bytes`` (16); ``ref`` is HMAC-SHA256 truncated to 16 bytes, as 32 lower-case hex.
    HMAC is computed from precomputed inner/outer SHA-256 states (RFC 2104 exactly; the tests
    compare it with :func:`hmac.digest`) because that is 2.5x faster than ``hmac.digest`` per call.

Bloom filters (CLK-style, field level)
    ``filter_name``     q-grams of first_name_key and last_name_key pooled in one set, so
                        swapped first/last names give the same filter; base 512 bits,
                        15 positions per q-gram.
    ``filter_birth_date`` q-grams of the 8 digits YYYYMMDD; base 128 bits, 10 positions.
    ``filter_address``  q-grams of street_name_key, street_number, street_letter and
                        postal_code, each tagged with its field so that "12" as a number and
                        as part of a postal code are different q-grams; base 512 bits,
                        10 positions.
    q = 2 (bigrams) everywhere. Each word is padded with one ``_`` on both sides (``"asa"`` ->
    ``_a as sa a_``) so first and last letters weigh as much as inner ones; q-grams form a set.
    Before q-gramming a value is folded once more (NFKD, combining marks dropped, case-folded,
    punctuation to spaces): idempotent on the normaliser's ``*_key`` columns, and it keeps lost
    diacritics ("Åsa Öberg" / "Asa Oberg") at Dice 1 even for keys from another normaliser.
    The base lengths and positions per q-gram put a typical value at 30-50 % fill, where
    similarity stays informative without saturating.

    Hardening, two layers:

    1. Keyed random hashing. The positions of a q-gram are the first ``k`` 16-bit words of
       ``HMAC-SHA256(filter subkey, block index || q-gram)`` modulo the (power of two) base
       length, not double hashing: Kroll and Steinmetzer (2015) and Niedermeyer et al. (2014)
       recover q-grams from double-hashed CLKs because double hashing's positions are an
       arithmetic progression; independent keyed positions leave no such structure, and
       without the matching key nobody (the matcher included) can compute any position.
    2. Balancing (Schnell, Borgs and Encheva 2016): the stored filter is the base filter
       concatenated with its complement, then permuted by a keyed permutation (positions
       sorted by HMAC of their index). Every stored filter has exactly half its bits set, so
       the Hamming weight no longer reveals name length or q-gram count, which the
       frequency and pattern-mining attacks of Christen, Ranbaduge, Vatsalan and Schnell
       (PAKDD 2017; TKDE 2018) use to align filters with frequent names. Balancing was picked
       over salting with a stable attribute (salting by birth year would break the
       birth-date-typo variant, whose names must still match) and over XOR-folding or BLIP
       (both flip or merge bits and cost recall on one-letter typos). Balancing is lossless:
       for base length m, ``Dice(balanced a, balanced b) = 1 - Hamming(a, b) / m``, so the
       ranking of candidate pairs equals the Hamming ranking of the base filters; unrelated
       values score about 0.5-0.6 instead of about 0.1, which the matcher's thresholds use.
    Stored lengths are twice the base: 1024, 256 and 1024 bits (``length_bits`` in
    :class:`~matcher.contract.BloomFilterSpec`). Bits are packed big-endian (bit i of the filter
    is bit ``7 - i % 8`` of byte ``i // 8``), as anonlink does. A filter is null when every
    input field is null or empty, so two records without names never compare as equal.

Blocking keys (keyed HMAC, truncated; null when an input is missing)
    ``block_dob_first``    birth date + first letter of first_name_key: new surname.
    ``block_dob_last``     birth date + first letter of last_name_key: new or misspelt first name.
    ``block_dob_initials`` birth date + the two initials sorted: swapped first and last name.
    ``block_names_yob``    both names' 3-letter prefixes sorted + birth year: a typo in the
                           month or day of the birth date (a personnummer typo).

Sealed fields
    ``sealed_<field>`` for every :data:`~matcher.contract.SEALED_FIELDS`: AES-256-GCM
    under the extract's data key, associated data :func:`~matcher.contract.sealed_associated_data`,
    nonce = absolute row index (8 bytes, big-endian) || field index (4 bytes). A nonce never
    repeats under one data key because the data key is fresh per extract and (row, field) is
    unique in it; chunks encoded in parallel take their absolute first row.

Parallel encoding
    :func:`start_encoding_pool` starts spawned worker processes (polars does not survive
    fork), ideally before the data is ready. Each worker encodes row chunks and writes them as
    Arrow IPC files into a scratch folder, which the parent maps instead of unpickling;
    blocking keys, birth-date and e-mail tokens are hashed once per distinct value of the
    whole extract. The output is byte-identical to serial encoding.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import stat
import struct
import tempfile
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Final
from uuid import UUID

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, hpke, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from connectors.errors import KeyFileError, PackageError, SealError
from matcher.contract import (
    BLOCK_PREFIX,
    CONTRACT_COLUMNS,
    FILTER_PREFIX,
    REF_COLUMN,
    SEALED_FIELDS,
    TOKEN_FIELDS,
    BloomFilterSpec,
    EncodingParameters,
    Manifest,
    RevealKem,
    hpke_info,
    pem_blocks,
    sealed_column,
    signing_payload,
    token_column,
)

__all__ = [
    "BLOCKING_KEYS",
    "FILTER_SPECS",
    "KEY_BYTES",
    "Encoder",
    "EncodingPool",
    "MatchingKey",
    "SigningKey",
    "dice",
    "load_local_key",
    "load_matching_key",
    "load_signing_key",
    "new_data_key",
    "new_local_key",
    "new_matching_key",
    "new_reveal_key_pair",
    "new_signing_key",
    "open_sealed",
    "reveal_kem_of",
    "seal",
    "sign_manifest",
    "signing_public_pem",
    "start_encoding_pool",
    "unwrap_data_key",
    "verify_manifest",
    "wrap_data_key",
    "write_local_key",
    "write_matching_key",
    "write_secret_file",
]

KEY_BYTES: Final = 32
_REF_BYTES: Final = 16
_MATCHING_HEADER: Final = "crosscheck-matching-key-v1"
_LOCAL_HEADER: Final = "crosscheck-local-key-v1"
_LOCAL_SALT: Final = b"crosscheck/v1/local"
_HARDENING: Final = "keyed-random-hashing+balanced"
_CHUNK_ROWS: Final = 100_000  # rows per parallel work item
_TMP: Final = ".crosscheck-tmp-encode-"

# Blocking keys in column order; the module docstring says which identity variant each catches.
BLOCKING_KEYS: Final = ("dob_first", "dob_last", "dob_initials", "names_yob")

FILTER_SPECS: Final = (
    BloomFilterSpec(
        name="name",
        fields=("first_name_key", "last_name_key"),
        length_bits=1024,
        q=2,
        hashes_per_qgram=15,
        hardening=_HARDENING,
    ),
    BloomFilterSpec(
        name="birth_date",
        fields=("birth_date",),
        length_bits=256,
        q=2,
        hashes_per_qgram=10,
        hardening=_HARDENING,
    ),
    BloomFilterSpec(
        name="address",
        fields=("street_name_key", "street_number", "street_letter", "postal_code"),
        length_bits=1024,
        q=2,
        hashes_per_qgram=10,
        hardening=_HARDENING,
    ),
)
# Fields whose q-grams are pooled without a field tag (so swapped values give the same set).
_POOLED_FILTERS: Final = frozenset({"name"})

_PARAMETERS: Final = EncodingParameters(
    blocking_keys=BLOCKING_KEYS,
    filters=FILTER_SPECS,
)


# --------------------------------------------------------------------------------------- keys


@dataclass(frozen=True)
class MatchingKey:
    """The shared 256-bit matching key of one epoch. ``epoch`` is a fingerprint, not a secret."""

    epoch: str
    secret: bytes = field(repr=False)


@dataclass(frozen=True)
class SigningKey:
    """A company's Ed25519 signing key, opaque outside this module."""

    _key: ed25519.Ed25519PrivateKey = field(repr=False)


def _epoch_of(secret: bytes) -> str:
    return "mk-" + hashlib.sha256(b"crosscheck-epoch" + secret).hexdigest()[:12]


def new_matching_key(random_bytes: Callable[[int], bytes] = os.urandom) -> MatchingKey:
    secret = random_bytes(KEY_BYTES)
    if len(secret) != KEY_BYTES:
        raise ValueError("random_bytes returned the wrong number of bytes")
    return MatchingKey(epoch=_epoch_of(secret), secret=secret)


def write_secret_file(path: Path, data: bytes) -> None:
    """Write a secret to a new file readable by the owner only (mode 0600).

    An existing file is never overwritten: losing a local or signing key silently would break
    ref stability or the matcher's trust in the company.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(
            f"{path} already exists; refusing to overwrite a key file. "
            "Move it away first if you really mean to replace the key."
        ) from None
    except OSError as exc:
        raise KeyFileError(f"{path} could not be created ({exc.strerror}).") from None
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), stat.S_IRUSR | stat.S_IWUSR)  # umask can not widen it
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _read_key_text(path: Path, what: str) -> list[str]:
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise KeyFileError(f"{path} does not exist; expected {what}.") from None
    except (OSError, UnicodeDecodeError):
        raise KeyFileError(f"{path} could not be read as text; expected {what}.") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def _decode_secret(path: Path, value: str, what: str) -> bytes:
    try:
        secret = base64.b64decode(value, validate=True)
    except ValueError:
        secret = b""
    if len(secret) != KEY_BYTES:
        raise KeyFileError(f"{path}: the secret is not base64 of 32 bytes; expected {what}.")
    return secret


def write_matching_key(path: Path, key: MatchingKey) -> None:
    text = (
        f"{_MATCHING_HEADER}\n"
        f"epoch: {key.epoch}\n"
        f"secret: {base64.b64encode(key.secret).decode('ascii')}\n"
    )
    write_secret_file(path, text.encode("ascii"))


def load_matching_key(path: Path) -> MatchingKey:
    what = f"a matching key file ('{_MATCHING_HEADER}', 'epoch: mk-...', 'secret: <base64>')"
    lines = _read_key_text(path, what)
    if len(lines) != 3 or lines[0] != _MATCHING_HEADER:
        raise KeyFileError(f"{path} is not {what}.")
    epoch_line, secret_line = lines[1], lines[2]
    if not epoch_line.startswith("epoch: ") or not secret_line.startswith("secret: "):
        raise KeyFileError(f"{path} is not {what}.")
    secret = _decode_secret(path, secret_line.removeprefix("secret: "), what)
    epoch = epoch_line.removeprefix("epoch: ")
    if epoch != _epoch_of(secret):
        # The epoch is a fingerprint of the secret: a mismatch means a damaged or edited file.
        raise KeyFileError(
            f"{path}: the epoch id does not match the secret; the file is damaged. "
            "Ask for a fresh copy of the matching key."
        )
    return MatchingKey(epoch=epoch, secret=secret)


def new_local_key(random_bytes: Callable[[int], bytes] = os.urandom) -> bytes:
    secret = random_bytes(KEY_BYTES)
    if len(secret) != KEY_BYTES:
        raise ValueError("random_bytes returned the wrong number of bytes")
    return secret


def write_local_key(path: Path, key: bytes) -> None:
    if len(key) != KEY_BYTES:
        raise ValueError("a local key is 32 bytes")
    text = f"{_LOCAL_HEADER}\nsecret: {base64.b64encode(key).decode('ascii')}\n"
    write_secret_file(path, text.encode("ascii"))


def load_local_key(path: Path) -> bytes:
    what = f"a company-local key file ('{_LOCAL_HEADER}', 'secret: <base64>')"
    lines = _read_key_text(path, what)
    if len(lines) != 2 or lines[0] != _LOCAL_HEADER or not lines[1].startswith("secret: "):
        raise KeyFileError(f"{path} is not {what}.")
    return _decode_secret(path, lines[1].removeprefix("secret: "), what)


# ---------------------------------------------------------------------------------- signing


def new_signing_key() -> tuple[bytes, bytes]:
    """A fresh Ed25519 key pair: (private PEM PKCS8, public PEM SubjectPublicKeyInfo)."""
    key = ed25519.Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return private_pem, _ed25519_public_pem(key)


def _ed25519_public_pem(key: ed25519.Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_signing_key(path: Path) -> SigningKey:
    what = "an unencrypted Ed25519 private key in PEM (PKCS8)"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"{path} does not exist; expected {what}.") from None
    except OSError as exc:
        raise KeyFileError(f"{path} could not be read ({exc.strerror}); expected {what}.") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise KeyFileError(f"{path} is not {what}.") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise KeyFileError(f"{path} holds another kind of private key; expected {what}.")
    return SigningKey(key)


def signing_public_pem(key: SigningKey) -> bytes:
    return _ed25519_public_pem(key._key)


def sign_manifest(manifest: Manifest, key: SigningKey) -> Manifest:
    """A copy of ``manifest`` carrying an Ed25519 signature over its signing payload."""
    signature = key._key.sign(signing_payload(manifest))
    return manifest.model_copy(update={"signature": base64.b64encode(signature).decode("ascii")})


def verify_manifest(manifest: Manifest, public_pem: bytes) -> None:
    """Raise :class:`PackageError` unless the manifest is signed by the key of ``public_pem``."""
    try:
        public = serialization.load_pem_public_key(public_pem)
    except (ValueError, TypeError):
        raise KeyFileError("the signing public key is not a PEM public key.") from None
    if not isinstance(public, ed25519.Ed25519PublicKey):
        raise KeyFileError("the signing public key is not an Ed25519 key.")
    try:
        signature = base64.b64decode(manifest.signature, validate=True)
        public.verify(signature, signing_payload(manifest))
    except (ValueError, InvalidSignature):
        raise PackageError(
            "the manifest signature does not verify with this company's public key: the "
            "package was changed after signing or signed with another key. Pseudonymise again."
        ) from None


# ------------------------------------------------------------------------------ reveal keys

_X25519_SUITE: Final = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
_HYBRID_SUITE: Final = hpke.Suite(
    hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM
)


def new_reveal_key_pair(kem: RevealKem = "X25519") -> tuple[bytes, bytes]:
    """A reveal key pair as (private PEM, public PEM), for tests and the demo.

    The hybrid kind stores two PEM blocks per file, ML-KEM-768 first, then X25519.
    """
    private_x = x25519.X25519PrivateKey.generate()
    privates: list[x25519.X25519PrivateKey | mlkem.MLKEM768PrivateKey] = [private_x]
    if kem == "MLKEM768-X25519":
        privates.insert(0, mlkem.MLKEM768PrivateKey.generate())
    elif kem != "X25519":
        raise ValueError(f"unknown reveal KEM {kem!r}")
    private_pem = b"".join(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        for key in privates
    )
    public_pem = b"".join(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        for key in privates
    )
    return private_pem, public_pem


_REVEAL_PUBLIC_WHAT: Final = (
    "a reveal public key file: one X25519 PEM block, or an ML-KEM-768 block then an X25519 block"
)


def _load_reveal_public(
    public_pem: bytes,
) -> tuple[RevealKem, x25519.X25519PublicKey | hpke.MLKEM768X25519PublicKey]:
    try:
        keys = [serialization.load_pem_public_key(block) for block in pem_blocks(public_pem)]
    except (ValueError, TypeError):
        raise KeyFileError(f"the reveal key is not {_REVEAL_PUBLIC_WHAT}.") from None
    if len(keys) == 1 and isinstance(keys[0], x25519.X25519PublicKey):
        return "X25519", keys[0]
    if (
        len(keys) == 2
        and isinstance(keys[0], mlkem.MLKEM768PublicKey)
        and isinstance(keys[1], x25519.X25519PublicKey)
    ):
        return "MLKEM768-X25519", hpke.MLKEM768X25519PublicKey(keys[0], keys[1])
    raise KeyFileError(f"the reveal key is not {_REVEAL_PUBLIC_WHAT}.")


def reveal_kem_of(public_pem: bytes) -> RevealKem:
    return _load_reveal_public(public_pem)[0]


def new_data_key() -> bytes:
    """A fresh AES-256 data key; one per extract, never reused."""
    return os.urandom(KEY_BYTES)


def wrap_data_key(
    data_key: bytes, reveal_public_pem: bytes, company_id: str, extract_id: UUID
) -> str:
    """HPKE-seal the data key to the matcher's reveal key, bound to company and extract."""
    kem, public = _load_reveal_public(reveal_public_pem)
    suite = _X25519_SUITE if kem == "X25519" else _HYBRID_SUITE
    wrapped = suite.encrypt(data_key, public, info=hpke_info(company_id, extract_id))
    return base64.b64encode(wrapped).decode("ascii")


def unwrap_data_key(
    wrapped: str, reveal_private_pem: bytes, company_id: str, extract_id: UUID
) -> bytes:
    """Open a wrapped data key (the matcher's side; here for tests). SealError on any failure."""
    try:
        keys = [
            serialization.load_pem_private_key(block, password=None)
            for block in pem_blocks(reveal_private_pem)
        ]
        ciphertext = base64.b64decode(wrapped, validate=True)
        info = hpke_info(company_id, extract_id)
        if len(keys) == 1 and isinstance(keys[0], x25519.X25519PrivateKey):
            return _X25519_SUITE.decrypt(ciphertext, keys[0], info=info)
        if (
            len(keys) == 2
            and isinstance(keys[0], mlkem.MLKEM768PrivateKey)
            and isinstance(keys[1], x25519.X25519PrivateKey)
        ):
            private = hpke.MLKEM768X25519PrivateKey(keys[0], keys[1])
            return _HYBRID_SUITE.decrypt(ciphertext, private, info=info)
    except (ValueError, TypeError, InvalidTag):
        pass
    raise SealError()


# ---------------------------------------------------------------------------------- sealing

_NONCE: Final = struct.Struct(">QI")
_SEALED_INDEX: Final = {name: index for index, name in enumerate(SEALED_FIELDS)}


def _associated_prefix(extract_id: UUID, ref: str) -> bytes:
    # Byte-identical to contract.sealed_associated_data (a JSON array of three strings that
    # need no escaping: UUID, hex, field name), built by concatenation for speed.
    return b'["' + str(extract_id).encode("ascii") + b'","' + ref.encode("ascii") + b'","'


def _nonce(row_index: int, field_name: str) -> bytes:
    return _NONCE.pack(row_index, _SEALED_INDEX[field_name])


def seal(
    data_key: bytes, extract_id: UUID, ref: str, field: str, value: str, nonce: bytes
) -> bytes:
    """AES-256-GCM of one field value, returned as ``nonce (12) || ciphertext || tag (16)``.

    The nonce travels with the value so that opening never depends on row order; the caller
    guarantees it is unique under ``data_key`` (the encoder uses row index || field index).
    """
    if len(nonce) != 12:
        raise ValueError("an AES-GCM nonce is 12 bytes")
    associated = _associated_prefix(extract_id, ref) + field.encode("ascii") + b'"]'
    return nonce + AESGCM(data_key).encrypt(nonce, value.encode("utf-8"), associated)


def open_sealed(data_key: bytes, extract_id: UUID, ref: str, field: str, blob: bytes) -> str:
    """Open a value made by :func:`seal`; SealError for a wrong key, context or damaged blob."""
    try:
        associated = _associated_prefix(extract_id, ref) + field.encode("ascii") + b'"]'
        plain = AESGCM(data_key).decrypt(blob[:12], blob[12:], associated)
        return plain.decode("utf-8")
    except (ValueError, TypeError, InvalidTag, UnicodeError):
        raise SealError() from None


# ------------------------------------------------------------------------------- encoding


class _Hmac:
    """HMAC-SHA256 under one fixed key, with the padded-key states computed once (RFC 2104)."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        padded = key.ljust(64, b"\0") if len(key) <= 64 else hashlib.sha256(key).digest()
        padded = padded.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))

    def digest(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def many(self, messages: Iterable[bytes], size: int = 32) -> list[bytes]:
        inner_copy, outer_copy = self._inner.copy, self._outer.copy
        out: list[bytes] = []
        append = out.append
        for message in messages:
            inner = inner_copy()
            inner.update(message)
            outer = outer_copy()
            outer.update(inner.digest())
            append(outer.digest()[:size])
        return out


def _hkdf(secret: bytes, salt: bytes, info: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, info=info.encode("utf-8")
    ).derive(secret)


def _fold(value: str) -> list[str]:
    """Words of a value, diacritics and case folded, punctuation removed."""
    decomposed = unicodedata.normalize("NFKD", value)
    kept = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return "".join(c if c.isalnum() else " " for c in kept).split()


def _qgrams(value: str, q: int, tag: str) -> set[str]:
    grams: set[str] = set()
    for word in _fold(value):
        padded = "_" + word + "_"
        grams.update(tag + padded[i : i + q] for i in range(max(1, len(padded) - q + 1)))
    return grams


_U64 = npt.NDArray[np.uint64]


class _BloomFilter:
    """One balanced, keyed Bloom filter column; see the module docstring."""

    def __init__(self, spec: BloomFilterSpec, subkey: bytes) -> None:
        self.spec = spec
        self.base_bits = spec.length_bits // 2
        if self.base_bits & (self.base_bits - 1) or self.base_bits > 65536:
            raise ValueError("the base filter length must be a power of two up to 65536")
        self.words = spec.length_bits // 64
        self._hmac = _Hmac(subkey)
        self._cache: dict[str, list[int]] = {}
        permuter = _Hmac(_hkdf(subkey, b"", "crosscheck/v1/permutation"))
        sort_keys = permuter.many(i.to_bytes(4, "big") for i in range(spec.length_bits))
        # A keyed permutation: stored bit j is balanced bit perm[j].
        self._perm = np.array(sorted(range(spec.length_bits), key=sort_keys.__getitem__))

    def positions(self, gram: str) -> list[int]:
        cached = self._cache.get(gram)
        if cached is None:
            encoded = gram.encode("utf-8")
            k = self.spec.hashes_per_qgram
            cached = []
            for block in range((k + 15) // 16):
                digest = self._hmac.digest(bytes([block]) + encoded)
                cached.extend(p % self.base_bits for p in struct.unpack(">16H", digest))
            cached = self._cache[gram] = cached[:k]
        return cached

    def table(self, gram_sets: Sequence[set[str]]) -> tuple[_U64, _U64]:
        """Per gram set: (permuted base || 0, permuted 0 || complement) as uint64 words.

        Balancing is linear in the components, so a record's stored filter is the OR of its
        fields' first parts OR the AND of their second parts (the complement of a union is
        the intersection of the complements): components are built once per distinct value.
        """
        gram_ids: dict[str, int] = {}
        owners: list[int] = []
        members: list[int] = []
        for row, grams in enumerate(gram_sets):
            for gram in grams:
                members.append(gram_ids.setdefault(gram, len(gram_ids)))
            owners.extend([row] * len(grams))
        spots = np.array([self.positions(g) for g in gram_ids], np.intp).reshape(
            len(gram_ids), self.spec.hashes_per_qgram
        )
        cols = spots[np.array(members, np.intp)].ravel()
        rows = np.repeat(np.array(owners, np.intp), self.spec.hashes_per_qgram)
        m = self.base_bits
        balanced = np.zeros((len(gram_sets), 2 * m), np.bool_)
        balanced[:, m:] = True
        balanced[rows, cols] = True
        balanced[rows, cols + m] = False
        positive = balanced.copy()
        positive[:, m:] = False
        balanced[:, :m] = False
        return self._pack(positive), self._pack(balanced)

    def _pack(self, bits: npt.NDArray[np.bool_]) -> _U64:
        packed = np.packbits(bits[:, self._perm], axis=1, bitorder="big")
        return np.ascontiguousarray(packed).view(np.uint64)


def _from_arrow(array: pa.Array) -> pl.Series:
    series = pl.from_arrow(array)
    assert isinstance(series, pl.Series)
    return series


def _validity(valid: npt.NDArray[np.bool_] | None) -> pa.Buffer | None:
    if valid is None or valid.all():
        return None
    return pa.py_buffer(np.packbits(valid, bitorder="little"))


def _fixed_binary(
    name: str, matrix: npt.NDArray[np.uint8], valid: npt.NDArray[np.bool_] | None
) -> pl.Series:
    rows, width = matrix.shape
    offsets = np.arange(0, (rows + 1) * width, width, dtype=np.int64)
    array = pa.Array.from_buffers(
        pa.large_binary(),
        rows,
        [_validity(valid), pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(matrix))],
    )
    return _from_arrow(array).alias(name)


def _joined_binary(
    name: str, data: bytes, lengths: npt.NDArray[np.int64], valid: npt.NDArray[np.bool_] | None
) -> pl.Series:
    """A Binary column from its values joined end to end and each row's length (0 for null).

    Building the Arrow buffers directly is about 3x faster than converting a list of bytes.
    """
    offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    array = pa.Array.from_buffers(
        pa.large_binary(),
        len(lengths),
        [_validity(valid), pa.py_buffer(offsets), pa.py_buffer(data)],
    )
    return _from_arrow(array).alias(name)


def _dictionary(series: pl.Series) -> tuple[pa.Array, npt.NDArray[np.intp]]:
    """A column's distinct non-null values and, per row, 1 + the index of its value (0 = null).

    Arrow's hash-based dictionary encoding is linear and about 20x faster than a dense rank.
    """
    encoded = pc.dictionary_encode(series.cast(pl.String).to_arrow())
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    indices = encoded.indices.fill_null(-1) if encoded.indices.null_count else encoded.indices
    index = indices.to_numpy().astype(np.intp) + 1
    return encoded.dictionary, index


_HEX: Final = np.array([f"{i:02x}".encode("ascii") for i in range(256)], dtype="S2")


def _hex_column(name: str, digests: bytes, width: int) -> pl.Series:
    """Lower-case hex of fixed-width digests joined end to end, as a String column."""
    raw = np.frombuffer(digests, np.uint8)
    text = _HEX[raw].tobytes()
    rows = len(raw) // width
    offsets = np.arange(0, (rows + 1) * 2 * width, 2 * width, dtype=np.int64)
    array = pa.Array.from_buffers(
        pa.large_string(), rows, [None, pa.py_buffer(offsets), pa.py_buffer(text)]
    )
    return _from_arrow(array).alias(name)


class Encoder:
    """Turns normalised rows into the pseudonymised columns of one extract.

    Built once per extract from the matching key (shared) and the company-local key. Holds
    per-field subkeys and caches of q-gram positions; never holds a data key.
    """

    def __init__(self, matching_key: MatchingKey, local_key: bytes) -> None:
        if len(matching_key.secret) != KEY_BYTES or len(local_key) != KEY_BYTES:
            raise ValueError("matching and local keys are 32 bytes")
        self._matching_key = matching_key
        self._local_key = local_key
        self.parameters: EncodingParameters = _PARAMETERS
        salt = matching_key.epoch.encode("ascii")
        self._salt = salt
        self._token_keys: dict[str, _Hmac] = {}
        self._block_keys = {
            name: _Hmac(_hkdf(matching_key.secret, salt, f"crosscheck/v1/block/{name}"))
            for name in BLOCKING_KEYS
        }
        self._filters = {
            spec.name: _BloomFilter(
                spec, _hkdf(matching_key.secret, salt, f"crosscheck/v1/filter/{spec.name}")
            )
            for spec in FILTER_SPECS
        }
        self._ref_key = _Hmac(_hkdf(local_key, _LOCAL_SALT, "crosscheck/v1/ref"))

    def __repr__(self) -> str:
        return f"Encoder(epoch={self._matching_key.epoch!r})"

    def _token_key(self, field_name: str) -> _Hmac:
        key = self._token_keys.get(field_name)
        if key is None:
            secret = _hkdf(
                self._matching_key.secret, self._salt, f"crosscheck/v1/token/{field_name}"
            )
            key = self._token_keys[field_name] = _Hmac(secret)
        return key

    def token_for(self, field: str, canonical_value: str) -> bytes:
        """HMAC-SHA256 of a canonical value under the field's own subkey."""
        return self._token_key(field).digest(canonical_value.encode("utf-8"))

    def ref_for(self, record_id: str) -> str:
        return self._ref_key.digest(record_id.encode("utf-8"))[:_REF_BYTES].hex()

    def block_for(self, name: str, key_material: str) -> bytes:
        """A blocking key from its composed material (see :meth:`_block_material`)."""
        block_bytes = self.parameters.block_bytes
        return self._block_keys[name].digest(key_material.encode("utf-8"))[:block_bytes]

    def filter_for(self, name: str, values: Sequence[str | None]) -> bytes | None:
        """The stored filter of one record from its values of the filter's fields, in order.

        Dates are given as ``YYYYMMDD``. Null when every value is null or empty.
        """
        bloom = self._filters[name]
        spec = bloom.spec
        tags = self._tags(spec)
        grams = [
            _qgrams(value, spec.q, tag) if value else set()
            for tag, value in zip(tags, values, strict=True)
        ]
        if not any(grams):
            return None
        positive, negative = bloom.table(grams)
        stored = np.bitwise_or.reduce(positive) | np.bitwise_and.reduce(negative)
        return bytes(stored.tobytes())

    @staticmethod
    def _tags(spec: BloomFilterSpec) -> list[str]:
        pooled = spec.name in _POOLED_FILTERS
        return ["" if pooled else f"{name}:" for name in spec.fields]

    # ----------------------------------------------------------------- whole-frame encoding

    def encode(
        self,
        frame: pl.DataFrame,
        extract_id: UUID,
        data_key: bytes,
        *,
        first_row: int = 0,
        workers: int = 1,
        pool: EncodingPool | None = None,
        scratch: Path | None = None,
    ) -> pl.DataFrame:
        """The records.parquet columns for ``frame``'s rows, in the same order.

        ``first_row`` is the absolute index of the frame's first row in the extract (nonces
        derive from it). Chunks are encoded in parallel processes when ``pool`` is given (see
        :func:`start_encoding_pool`; started early, its workers import while the caller is
        still normalising) or ``workers > 1``. Workers hand their chunks back as Arrow IPC
        files in ``scratch``, which must then outlive the returned frame (it may map the
        files); without ``scratch`` a temporary folder is used and the chunks are copied in.
        """
        if len(data_key) != KEY_BYTES:
            raise ValueError("a data key is 32 bytes")
        if pool is None and (workers <= 1 or frame.height < 2 * workers):
            return self._encode_chunk(frame, extract_id, data_key, first_row)
        with contextlib.ExitStack() as stack:
            if pool is None:
                pool = stack.enter_context(start_encoding_pool(workers))
            if scratch is None:
                folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=_TMP)))
                return self._encode_parallel(
                    frame, extract_id, data_key, first_row, pool, folder, mapped=False
                )
            return self._encode_parallel(
                frame, extract_id, data_key, first_row, pool, scratch, mapped=True
            )

    def _encode_parallel(
        self,
        frame: pl.DataFrame,
        extract_id: UUID,
        data_key: bytes,
        first_row: int,
        pool: EncodingPool,
        scratch: Path,
        *,
        mapped: bool,
    ) -> pl.DataFrame:
        # Chunks of bounded size keep each worker's memory flat and let the pool balance load
        # when another process takes a core. Results come back as IPC files, not through the
        # pipe: pickling ~1 GB of encoded columns cost the parent more than encoding saved.
        size = max(1, min(_CHUNK_ROWS, -(-frame.height // pool.workers)))
        folder = Path(tempfile.mkdtemp(prefix=_TMP, dir=scratch))
        # Blocking keys, birth dates and e-mail addresses repeat across the whole extract (1.8M
        # of 5.4M values per 1M rows are repeats that a 100k-row chunk does not see): their
        # MACs are computed once per distinct value of the whole frame and gathered here.
        keyed = self._keyed_inputs()
        text = frame.select(keyed[column][1].alias(column) for column in _SHARED_KEYED)
        shared: dict[str, tuple[Future[bytes], int, npt.NDArray[np.intp]]] = {}
        for column in _SHARED_KEYED:
            distinct, index = _dictionary(text[column])
            values = distinct.cast(pa.large_binary()).to_pylist()
            task = pool.executor.submit(
                _macs_in_worker, self._matching_key, self._local_key, column, values
            )
            shared[column] = (task, len(values), index)
        del text
        inputs = _encoded_inputs()
        needed = [name for name in frame.columns if name in inputs]
        futures = [
            pool.executor.submit(
                _encode_in_worker,
                self._matching_key,
                self._local_key,
                frame.slice(offset, size).select(needed),
                extract_id,
                data_key,
                first_row + offset,
                str(folder / f"chunk-{offset:012d}.arrow"),
            )
            for offset in range(0, frame.height, size)
        ]
        # Mapped chunk files cost no copy (1.3 GB per 1M rows); the caller keeps them.
        read = _map_ipc if mapped else pl.read_ipc
        chunks = [read(future.result()) for future in futures]
        if not chunks:
            return self._encode_chunk(frame, extract_id, data_key, first_row)
        records = pl.concat(chunks, how="vertical", rechunk=False)
        gathered = []
        for column, (task, count, index) in shared.items():
            width = keyed[column][2]
            table = np.zeros((count + 1, width), np.uint8)  # row 0: null
            table[1:] = np.frombuffer(task.result(), np.uint8).reshape(count, width)
            gathered.append(_fixed_binary(column, table[index], index > 0))
        # The serial column order: ref, tokens, blocking keys, then the rest.
        rest = (name for name in records.columns if name not in keyed and name != REF_COLUMN)
        order = [REF_COLUMN, *keyed, *rest]
        return records.with_columns(gathered).select(order)

    def _keyed_inputs(self) -> dict[str, tuple[_Hmac, pl.Expr, int]]:
        """Each token and blocking-key column in output order: its key, input text and width."""
        token_inputs = {
            "national_id": pl.col("national_id"),
            "birth_date": pl.col("birth_date").dt.to_string("%Y-%m-%d"),
            "phone": pl.col("phone"),
            "email": pl.col("email").str.strip_chars().str.to_lowercase(),
        }
        block_inputs = _block_material()
        return {
            **{
                token_column(name): (self._token_key(name), token_inputs[name], 32)
                for name in TOKEN_FIELDS
            },
            **{
                BLOCK_PREFIX + name: (self._block_keys[name], block_inputs[name], 16)
                for name in BLOCKING_KEYS
            },
        }

    def _encode_chunk(
        self,
        frame: pl.DataFrame,
        extract_id: UUID,
        data_key: bytes,
        first_row: int,
        skip: frozenset[str] = frozenset(),
    ) -> pl.DataFrame:
        """All output columns for ``frame``, except the token and block columns in ``skip``."""
        height = frame.height
        record_ids = frame["record_id"].cast(pl.Binary).to_list()
        ref_digests = b"".join(self._ref_key.many(record_ids, _REF_BYTES))
        ref_column = _hex_column(REF_COLUMN, ref_digests, _REF_BYTES)
        columns: list[pl.Series] = [ref_column]

        keyed = {name: spec for name, spec in self._keyed_inputs().items() if name not in skip}
        text = frame.select(expr.alias(name) for name, (_, expr, _) in keyed.items())
        for name, (key, _, width) in keyed.items():
            columns.append(_keyed_column(name, text[name], key, width))

        filter_inputs = frame.select(
            pl.col("birth_date").dt.to_string("%Y%m%d"),
            *(
                pl.col(name)
                for spec in FILTER_SPECS
                for name in spec.fields
                if name != "birth_date"
            ),
        )
        for spec in FILTER_SPECS:
            columns.append(self._filter_column(spec, filter_inputs, height))

        columns.extend(
            frame[name].cast(getattr(pl, dtype)) for name, dtype in CONTRACT_COLUMNS.items()
        )
        refs = ref_column.cast(pl.Binary).to_list()
        columns.extend(self._sealed_columns(frame, extract_id, data_key, first_row, refs))
        return pl.DataFrame(columns)

    def _filter_column(self, spec: BloomFilterSpec, inputs: pl.DataFrame, height: int) -> pl.Series:
        bloom = self._filters[spec.name]
        positive = np.zeros((height, bloom.words), np.uint64)
        negative = ~np.zeros((height, bloom.words), np.uint64)
        present = np.zeros(height, np.bool_)
        for field_name, tag in zip(spec.fields, self._tags(spec), strict=True):
            # Distinct values are few (names, dates, streets): build each one's component once
            # and gather by dictionary index (0 = null, which contributes nothing).
            distinct, index = _dictionary(inputs[field_name])
            gram_sets = [set(), *(_qgrams(value, spec.q, tag) for value in distinct.to_pylist())]
            table_p, table_n = bloom.table(gram_sets)
            has_grams = np.array([bool(grams) for grams in gram_sets])
            positive |= table_p[index]
            negative &= table_n[index]
            present |= has_grams[index]
        stored = (positive | negative).view(np.uint8)
        return _fixed_binary(FILTER_PREFIX + spec.name, stored, present)

    def _sealed_columns(
        self,
        frame: pl.DataFrame,
        extract_id: UUID,
        data_key: bytes,
        first_row: int,
        refs: list[bytes],
    ) -> list[pl.Series]:
        encrypt = AESGCM(data_key).encrypt
        head = b'["' + str(extract_id).encode("ascii") + b'","'
        # Equal to _associated_prefix(extract_id, ref), with the ref already ASCII bytes.
        prefixes = [head + ref + b'","' for ref in refs]
        height = frame.height
        display = frame.select(
            (
                pl.col(name).dt.to_string("%Y-%m-%d")
                if frame.schema[name] == pl.Date
                else pl.col(name).cast(pl.String)
            )
            .cast(pl.Binary)
            .alias(name)
            for name in SEALED_FIELDS
        )
        row_bytes = [row.to_bytes(8, "big") for row in range(first_row, first_row + height)]
        out: list[pl.Series] = []
        for field_index, name in enumerate(SEALED_FIELDS):
            field_bytes = field_index.to_bytes(4, "big")
            suffix = name.encode("ascii") + b'"]'
            values = display[name]
            valid = values.is_not_null().to_numpy()
            # map() over prepared lists keeps the per-value Python overhead near the cost of
            # the AES-GCM call itself (the dominant cost of pseudonymising).
            if values.null_count():
                present = np.flatnonzero(valid).tolist()
                nonces = [row_bytes[i] + field_bytes for i in present]
                associated = [prefixes[i] + suffix for i in present]
            else:
                nonces = [rb + field_bytes for rb in row_bytes]
                associated = [prefix + suffix for prefix in prefixes]
            plain = values.drop_nulls().to_list()
            sealed = list(map(encrypt, nonces, plain, associated))
            pieces: list[bytes] = [b""] * (2 * len(sealed))
            pieces[0::2] = nonces
            pieces[1::2] = sealed
            lengths = np.zeros(height, np.int64)
            lengths[valid] = (
                np.fromiter(map(len, sealed), np.int64, len(sealed)) + len(field_bytes) + 8
            )
            out.append(_joined_binary(sealed_column(name), b"".join(pieces), lengths, valid))
        return out


# Keyed columns whose values repeat across an extract: hashed once per distinct value of the
# whole extract when encoding in parallel (national ids, phones and refs are nearly unique).
_SHARED_KEYED: Final = frozenset(
    {
        token_column("birth_date"),
        token_column("email"),
        *(BLOCK_PREFIX + name for name in BLOCKING_KEYS),
    }
)


def _map_ipc(path: str) -> pl.DataFrame:
    """An IPC file as a frame that maps the file instead of reading it (no copy)."""
    table = pa.ipc.open_file(pa.memory_map(path)).read_all()
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _encoded_inputs() -> frozenset[str]:
    """The input columns :meth:`Encoder._encode_chunk` reads: only these are sent to workers."""
    blocks = {root for expr in _block_material().values() for root in expr.meta.root_names()}
    filters = {name for spec in FILTER_SPECS for name in spec.fields}
    return frozenset(
        {"record_id", *TOKEN_FIELDS, *blocks, *filters, *CONTRACT_COLUMNS, *SEALED_FIELDS}
    )


# Each worker process keeps one Encoder per key pair: subkeys, filter permutations and the
# q-gram position caches are then built once per process, not once per chunk.
_worker_encoders: dict[tuple[bytes, bytes], Encoder] = {}


def _worker_encoder(matching_key: MatchingKey, local_key: bytes) -> Encoder:
    encoder = _worker_encoders.get((matching_key.secret, local_key))
    if encoder is None:
        encoder = Encoder(matching_key, local_key)
        _worker_encoders.clear()
        _worker_encoders[matching_key.secret, local_key] = encoder
    return encoder


def _encode_in_worker(
    matching_key: MatchingKey,
    local_key: bytes,
    frame: pl.DataFrame,
    extract_id: UUID,
    data_key: bytes,
    first_row: int,
    path: str,
) -> str:
    encoder = _worker_encoder(matching_key, local_key)
    chunk = encoder._encode_chunk(frame, extract_id, data_key, first_row, _SHARED_KEYED)
    chunk.write_ipc(path, compression="uncompressed")
    return path


def _macs_in_worker(
    matching_key: MatchingKey, local_key: bytes, column: str, values: list[bytes]
) -> bytes:
    """The MACs of one keyed column's distinct values, joined end to end."""
    key, _, width = _worker_encoder(matching_key, local_key)._keyed_inputs()[column]
    return b"".join(key.many(values, width))


@dataclass(frozen=True)
class EncodingPool:
    """Worker processes for :meth:`Encoder.encode`; made by :func:`start_encoding_pool`."""

    executor: ProcessPoolExecutor
    workers: int

    def close(self) -> None:
        """Stop the workers (also done when :func:`start_encoding_pool`'s block ends)."""
        self.executor.shutdown(wait=True, cancel_futures=True)


def _warm_up() -> None:
    """Run once in each new worker: unpickling it imports this module (polars, numpy, crypto)."""


@contextlib.contextmanager
def start_encoding_pool(workers: int) -> Iterator[EncodingPool]:
    """A pool of ``workers`` encoding processes, already importing when this returns.

    Start it before the data is ready (for instance before normalising) so the workers' start-up
    overlaps the caller's work; pass it to :meth:`Encoder.encode`.
    """
    # spawn, not fork: polars' thread pool does not survive fork.
    workers = max(1, workers)
    executor = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
    try:
        for _ in range(workers):
            executor.submit(_warm_up)  # with spawn, each submit to a busy pool starts a process
        yield EncodingPool(executor, workers)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def _initial(column: str) -> pl.Expr:
    return pl.col(column).str.strip_chars().str.slice(0, 1)


def _block_material() -> dict[str, pl.Expr]:
    """Each blocking key's plaintext material; null (no key) when an input is missing."""
    dob = pl.col("birth_date").dt.to_string("%Y-%m-%d")
    first, last = _initial("first_name_key"), _initial("last_name_key")
    first3 = pl.col("first_name_key").str.strip_chars().str.slice(0, 3)
    last3 = pl.col("last_name_key").str.strip_chars().str.slice(0, 3)

    def present(expr: pl.Expr) -> pl.Expr:
        return pl.when(expr.str.len_chars() > 0).then(expr)

    first, last = present(first), present(last)
    first3, last3 = present(first3), present(last3)
    low = pl.min_horizontal(first, last)
    high = pl.max_horizontal(first, last)
    low3 = pl.min_horizontal(first3, last3)
    high3 = pl.max_horizontal(first3, last3)
    # min/max_horizontal ignore nulls; the explicit null checks keep a key null instead.
    both = first.is_not_null() & last.is_not_null()
    both3 = first3.is_not_null() & last3.is_not_null()
    return {
        "dob_first": pl.concat_str(dob, pl.lit("|"), first),
        "dob_last": pl.concat_str(dob, pl.lit("|"), last),
        "dob_initials": pl.when(both).then(pl.concat_str(dob, pl.lit("|"), low, high)),
        "names_yob": pl.when(both3).then(
            pl.concat_str(low3, pl.lit("|"), high3, pl.lit("|"), pl.col("birth_date").dt.year())
        ),
    }


def _keyed_column(name: str, values: pl.Series, key: _Hmac, size: int) -> pl.Series:
    """HMAC of every non-null value, computed once per distinct value."""
    distinct, index = _dictionary(values)
    table = np.zeros((len(distinct) + 1, size), np.uint8)
    if len(distinct):
        macs = key.many(distinct.cast(pa.large_binary()).to_pylist(), size)
        table[1:] = np.frombuffer(b"".join(macs), np.uint8).reshape(-1, size)
    return _fixed_binary(name, table[index], index > 0)


def dice(a: bytes, b: bytes) -> float:
    """Sørensen-Dice coefficient of two equally long filters (for tests and diagnostics)."""
    x = np.frombuffer(a, np.uint8)
    y = np.frombuffer(b, np.uint8)
    both = int(np.bitwise_count(x & y).sum())
    total = int(np.bitwise_count(x).sum() + np.bitwise_count(y).sum())
    return 0.0 if total == 0 else 2 * both / total
