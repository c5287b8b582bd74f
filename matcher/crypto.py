"""The matcher's cryptography, in one place: API tokens, reveal keys, manifest signatures,
audit log checkpoint signatures, and opening sealed reveal fields for a disclosure.

This is the only matcher module that imports ``cryptography``. Functions are named for what
they are for; a failed check raises one opaque error and says nothing about why the bytes were
wrong (a signature that does not verify is just that).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, hpke, serialization
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from contract import (
    Manifest,
    RevealKem,
    hpke_info,
    pem_blocks,
    pem_fingerprint,
    sealed_associated_data,
    signing_payload,
    tlog,
    unpad_sealed,
)
from matcher.errors import BadSignature, ConfigError, InvalidInput, MatcherError

__all__ = [
    "API_TOKEN_PREFIX",
    "NOTE_SIGNATURE_PREFIX",
    "InvalidNoteSignature",
    "RevealKeyPair",
    "SealedDataUnreadable",
    "api_token_hash",
    "api_token_hashes_equal",
    "generate_log_key",
    "generate_reveal_key_pair",
    "log_public_key",
    "new_api_token",
    "new_session_id",
    "normalise_signing_public_key",
    "note_key_id",
    "open_sealed",
    "open_secret",
    "reveal_key_fingerprint",
    "seal_secret",
    "session_id_hash",
    "sign_note",
    "source_tag",
    "unwrap_data_key",
    "verify_manifest_signature",
    "verify_note_signature",
    "write_private_key_file",
]

API_TOKEN_PREFIX = "cc_"  # noqa: S105 - a public prefix, not a secret


@dataclass(frozen=True)
class RevealKeyPair:
    """PEM files of the matcher's reveal key pair (ML-KEM block first for the hybrid)."""

    kem: RevealKem
    private_pem: bytes
    public_pem: bytes


def new_api_token() -> str:
    """A fresh bearer token: ``cc_`` + base64url of 32 random bytes (256 bits)."""
    raw = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")
    return API_TOKEN_PREFIX + raw


def api_token_hash(token: str) -> str:
    """What the database stores for a token. A plain SHA-256 suffices: tokens have 256 bits
    of entropy, so there is nothing to brute-force that a slow hash would protect."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def api_token_hashes_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("ascii"), b.encode("ascii"))


def new_session_id() -> str:
    """A browser session's id, the only thing its cookie holds: 256 random bits, base64url."""
    return secrets.token_urlsafe(32)


def session_id_hash(session_id: str) -> str:
    """What the database stores for a session id (plain SHA-256, as for API tokens)."""
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def _secret_box(secret: bytes, purpose: str) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(
        secret
    )
    return AESGCM(key)


def seal_secret(secret: bytes, purpose: str, value: str) -> str:
    """``value`` (e.g. a provider's refresh token) encrypted for the database: AES-256-GCM
    under a key derived (HKDF-SHA256) from ``secret`` for ``purpose``; base64url text."""
    nonce = os.urandom(12)
    sealed = _secret_box(secret, purpose).encrypt(nonce, value.encode("utf-8"), purpose.encode())
    return base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def open_secret(secret: bytes, purpose: str, sealed: str) -> str | None:
    """What :func:`seal_secret` sealed, or None when it does not open (another secret)."""
    try:
        blob = base64.urlsafe_b64decode(sealed.encode("ascii"))
        plain = _secret_box(secret, purpose).decrypt(blob[:12], blob[12:], purpose.encode())
    except (InvalidTag, ValueError, binascii.Error):
        return None
    return plain.decode("utf-8")


_TAG_ALPHABET = str.maketrans("0123456789", "ghijklmnop")


def source_tag(secret: bytes, kind: str, value: str) -> str:
    """A keyed, one-way name for a client address or a token prefix, as the throttle and the
    audit log keep it: ``<kind>-`` + 20 letters of HMAC-SHA256. Without the secret an address
    can not be tested against it, so neither the database nor an exported log holds one.
    Letters only (digits mapped to g-p): no run of digits can look like a personnummer."""
    mac = hmac.new(secret, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()
    return f"{kind}-{mac[:20].translate(_TAG_ALPHABET)}"


def _pem_private(key: x25519.X25519PrivateKey | mlkem.MLKEM768PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _pem_public(key: x25519.X25519PublicKey | mlkem.MLKEM768PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def generate_reveal_key_pair(kem: RevealKem = "X25519") -> RevealKeyPair:
    """A new reveal key pair. The hybrid file holds the ML-KEM-768 block, then the X25519 one,
    the order :func:`contract.pem_fingerprint` and the connector expect."""
    classic = x25519.X25519PrivateKey.generate()
    if kem == "X25519":
        return RevealKeyPair(kem, _pem_private(classic), _pem_public(classic.public_key()))
    if kem == "MLKEM768-X25519":
        post_quantum = mlkem.MLKEM768PrivateKey.generate()
        return RevealKeyPair(
            kem,
            _pem_private(post_quantum) + _pem_private(classic),
            _pem_public(post_quantum.public_key()) + _pem_public(classic.public_key()),
        )
    raise ConfigError(f"unknown reveal KEM {kem!r}; expected X25519 or MLKEM768-X25519")


def write_private_key_file(path: Path, pem: bytes) -> None:
    """Create the file with mode 0600 from the start (never world-readable, not even briefly)
    and refuse to overwrite an existing key: losing it makes every sealed field unreadable."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise ConfigError(
            f"{path} exists already; a matcher keeps its reveal key. Remove it by hand only "
            "if you mean to make every stored sealed field unreadable"
        ) from exc
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
        out.flush()
        os.fsync(out.fileno())


def reveal_key_fingerprint(public_pem: bytes) -> str:
    return pem_fingerprint(public_pem)


def normalise_signing_public_key(pem: str) -> str:
    """Check that ``pem`` is one Ed25519 public key and return it in canonical PEM form."""
    try:
        key = serialization.load_pem_public_key(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise InvalidInput("the signing key is not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInput("the signing key must be an Ed25519 public key (PEM)")
    return _pem_public_ed25519(key)


def _pem_public_ed25519(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def verify_manifest_signature(signing_public_pem: str, manifest: Manifest) -> None:
    """Raise :class:`BadSignature` unless the manifest is signed by this company key."""
    key = serialization.load_pem_public_key(signing_public_pem.encode("ascii"))
    if not isinstance(key, Ed25519PublicKey):  # registered keys are checked on add_company
        raise ConfigError("the registered signing key is not Ed25519")
    message = (
        f"the manifest signature does not verify against the key registered for company "
        f"{manifest.company_id}; sign with that company's signing key, or ask the matcher "
        "operator to register the key you use"
    )
    try:
        signature = base64.b64decode(manifest.signature, validate=True)
        key.verify(signature, signing_payload(manifest))
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise BadSignature(message) from exc


# --- Audit log checkpoints: C2SP signed notes with Ed25519 (issue 4) --------------------------
# A signed note is "<text>\n<signature lines>", each line "— <key name> <base64(key id ||
# signature)>\n"; the signature covers the text including its final newline. The key id is the
# first 4 bytes of SHA-256(key name || "\n" || 0x01 || raw public key), as in C2SP signed-note
# and golang.org/x/mod/sumdb/note, so standard tooling (e.g. a witness) can check our notes.

NOTE_SIGNATURE_PREFIX = "\u2014 "  # em dash + space, exactly as the spec writes it
_NOTE_ED25519 = b"\x01"


class InvalidNoteSignature(MatcherError):
    """A signed note's signature does not verify. Opaque on purpose: it does not say why."""

    status = 422
    slug = "invalid-note-signature"
    title = "Signature does not verify"


def _load_ed25519_private(private_pem: bytes) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(private_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError("the audit log key is not an unencrypted PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError("the audit log key must be an Ed25519 private key (PEM, PKCS#8)")
    return key


def _load_ed25519_public(public_pem: bytes) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(public_pem)
    except (ValueError, TypeError) as exc:
        raise InvalidInput("the audit log public key is not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInput("the audit log public key must be an Ed25519 public key (PEM)")
    return key


def generate_log_key() -> bytes:
    """A new audit log signing key, PEM (PKCS#8). Write it with :func:`write_private_key_file`."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def log_public_key(private_pem: bytes) -> bytes:
    """The PEM (SPKI) public key auditors pin, from the log's private key."""
    return _pem_public_ed25519(_load_ed25519_private(private_pem).public_key()).encode("ascii")


def note_key_id(key_name: str, public_pem: bytes) -> bytes:
    """The 4-byte C2SP key id of an Ed25519 verifier key named ``key_name``."""
    return tlog.note_key_id(key_name, _load_ed25519_public(public_pem))


def sign_note(text: str, key_name: str, private_pem: bytes) -> str:
    """``text`` (ending in one newline) signed as a C2SP note by the log key ``key_name``."""
    key = _load_ed25519_private(private_pem)
    public_pem = _pem_public_ed25519(key.public_key()).encode("ascii")
    signature = key.sign(text.encode("utf-8"))
    blob = base64.b64encode(note_key_id(key_name, public_pem) + signature).decode("ascii")
    return f"{text}\n{NOTE_SIGNATURE_PREFIX}{key_name} {blob}\n"


def verify_note_signature(text: str, key_name: str, public_pem: bytes, blob: bytes) -> None:
    """Raise :class:`InvalidNoteSignature` unless ``blob`` (key id || Ed25519 signature, as
    decoded from one signature line) is this key's signature over ``text``."""
    key = _load_ed25519_public(public_pem)
    if len(blob) != 4 + 64 or not hmac.compare_digest(blob[:4], note_key_id(key_name, public_pem)):
        raise InvalidNoteSignature("the checkpoint signature does not verify")
    try:
        key.verify(blob[4:], text.encode("utf-8"))
    except InvalidSignature as exc:
        raise InvalidNoteSignature("the checkpoint signature does not verify") from exc


# --- Reveal: unwrap an extract's data key, open sealed fields (issue 4) ---------------------
# Mirrors connectors/pseudonymise/keys.py (wrap_data_key, seal): HPKE base mode, HKDF-SHA256,
# AES-256-GCM, info = contract.hpke_info(company, extract); a sealed value is nonce (12) ||
# ciphertext || tag (16) with associated data contract.sealed_associated_data(extract, ref, field).

_X25519_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
_HYBRID_SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
_NONCE_BYTES = 12
_DATA_KEY_BYTES = 32


class SealedDataUnreadable(MatcherError):
    """A wrapped data key or a sealed field does not open. Opaque on purpose: a wrong key, a
    wrong extract or record, and damaged bytes all look the same from outside."""

    status = 500
    slug = "sealed-data-unreadable"
    title = "Sealed data can not be opened"

    def __init__(self) -> None:
        super().__init__(
            "a sealed field could not be opened with the matcher's reveal key; the operator "
            "checks that the key file belongs to this matcher"
        )


def unwrap_data_key(
    wrapped_b64: str, reveal_private_pem: bytes, company_id: str, extract_id: UUID
) -> bytes:
    """The extract's AES-256 data key, opened with the reveal private key (X25519 or the
    ML-KEM-768+X25519 hybrid, told apart by the key file). :class:`SealedDataUnreadable` on
    any failure."""
    try:
        keys = [
            serialization.load_pem_private_key(block, password=None)
            for block in pem_blocks(reveal_private_pem)
        ]
        ciphertext = base64.b64decode(wrapped_b64, validate=True)
        info = hpke_info(company_id, extract_id)
        if len(keys) == 1 and isinstance(keys[0], x25519.X25519PrivateKey):
            key = _X25519_SUITE.decrypt(ciphertext, keys[0], info=info)
        elif (
            len(keys) == 2
            and isinstance(keys[0], mlkem.MLKEM768PrivateKey)
            and isinstance(keys[1], x25519.X25519PrivateKey)
        ):
            private = hpke.MLKEM768X25519PrivateKey(keys[0], keys[1])
            key = _HYBRID_SUITE.decrypt(ciphertext, private, info=info)
        else:
            raise SealedDataUnreadable()
    except (ValueError, TypeError, InvalidTag, binascii.Error):
        raise SealedDataUnreadable() from None
    if len(key) != _DATA_KEY_BYTES:
        raise SealedDataUnreadable()
    return key


def open_sealed(data_key: bytes, extract_id: UUID, ref: str, field: str, blob: bytes) -> str:
    """One sealed field's value; :class:`SealedDataUnreadable` for a wrong key, another record's
    or field's blob, or damaged bytes (AES-GCM authenticates all three)."""
    if len(blob) < _NONCE_BYTES + 16:
        raise SealedDataUnreadable()
    try:
        associated = sealed_associated_data(extract_id, ref, field)
        plain = AESGCM(data_key).decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], associated)
        return unpad_sealed(plain)  # contract v2: length prefix + padding to a size class
    except (ValueError, TypeError, InvalidTag, UnicodeError):
        raise SealedDataUnreadable() from None
