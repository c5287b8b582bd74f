"""Key material of the connector: key files, signatures, the reveal key, the data key, sealing.

Reads and writes the matching key, company-local key and Ed25519 signing key files; signs and
verifies manifests; makes and reads the matcher's HPKE reveal key pair (X25519, or ML-KEM-768
with X25519), which wraps each extract's fresh AES-256 data key; seals and opens single values
with AES-256-GCM; and holds the HMAC and HKDF primitives every token, blocking-key and filter
subkey is derived with. A wrapped key or sealed value that does not open raises the one opaque
:class:`~connectors.errors.SealError`. Layouts and reasons: :mod:`connectors.pseudonymise`.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from uuid import UUID

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, hpke, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from connectors.errors import KeyFileError, PackageError, SealError
from contract import (
    Manifest,
    RevealKem,
    hpke_info,
    pad_sealed,
    pem_blocks,
    signing_payload,
    tlog,
    unpad_sealed,
)

__all__ = [
    "KEY_BYTES",
    "Hmac",
    "MatchingKey",
    "SigningKey",
    "hkdf",
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
    "unwrap_data_key",
    "verify_manifest",
    "wrap_data_key",
    "write_local_key",
    "write_matching_key",
    "write_secret_file",
]

KEY_BYTES: Final = 32
_MATCHING_HEADER: Final = "crosscheck-matching-key-v1"
_LOCAL_HEADER: Final = "crosscheck-local-key-v1"


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


@dataclass(frozen=True)
class LogVerifier:
    """The matcher's access-log key a witness pinned: its key name and Ed25519 public key."""

    name: str
    _key: ed25519.Ed25519PublicKey = field(repr=False)

    def signed(self, note: tlog.Note) -> bool:
        """Is ``note`` signed by this log key (its first line by this key name)?"""
        return tlog.verify_note(note, self.name, self._key)


def load_log_verifier(path: Path, name: str) -> LogVerifier:
    what = "the matcher's access-log public key (Ed25519, PEM), from `matcher audit public-key`"
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except FileNotFoundError:
        raise KeyFileError(f"{path} does not exist; expected {what}.") from None
    except ValueError:
        raise KeyFileError(f"{path} is not {what}.") from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise KeyFileError(f"{path} holds another kind of key; expected {what}.")
    return LogVerifier(name, key)


def cosign_checkpoint(key: SigningKey, text: str, name: str, timestamp: int) -> str:
    """A C2SP cosignature/v1 line by witness ``name`` over a checkpoint's text."""
    return tlog.cosign(text, name, key._key, timestamp).line()


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


def _associated_prefix(extract_id: UUID, ref: str) -> bytes:
    # Byte-identical to contract.sealed_associated_data (a JSON array of three strings that
    # need no escaping: UUID, hex, field name), built by concatenation for speed.
    return b'["' + str(extract_id).encode("ascii") + b'","' + ref.encode("ascii") + b'","'


def seal(
    data_key: bytes,
    extract_id: UUID,
    ref: str,
    field: str,
    value: str,
    nonce: bytes | None = None,
) -> bytes:
    """AES-256-GCM of one padded field value: ``nonce (12) || ciphertext || tag (16)``.

    The plaintext is :func:`contract.pad_sealed` of the value, so the length shows only its
    size class. The nonce is random (``os.urandom``) unless a test pins one; it travels with
    the value, so opening never depends on row order.
    """
    if nonce is None:
        nonce = os.urandom(12)
    if len(nonce) != 12:
        raise ValueError("an AES-GCM nonce is 12 bytes")
    associated = _associated_prefix(extract_id, ref) + field.encode("ascii") + b'"]'
    return nonce + AESGCM(data_key).encrypt(nonce, pad_sealed(value), associated)


def open_sealed(data_key: bytes, extract_id: UUID, ref: str, field: str, blob: bytes) -> str:
    """Open a value made by :func:`seal`; SealError for a wrong key, context or damaged blob."""
    try:
        associated = _associated_prefix(extract_id, ref) + field.encode("ascii") + b'"]'
        plain = AESGCM(data_key).decrypt(blob[:12], blob[12:], associated)
        return unpad_sealed(plain)
    except (ValueError, TypeError, InvalidTag, UnicodeError):
        raise SealError() from None


# ------------------------------------------------------------------------------- subkeys


class Hmac:
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


def hkdf(secret: bytes, salt: bytes, info: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, info=info.encode("utf-8")
    ).derive(secret)
