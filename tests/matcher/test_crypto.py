"""The matcher's crypto module: API tokens, reveal key pairs, manifest signatures."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from contract import pem_fingerprint, signing_payload
from matcher.crypto import (
    api_token_hash,
    generate_reveal_key_pair,
    new_api_token,
    normalise_signing_public_key,
    verify_manifest_signature,
    write_private_key_file,
)
from matcher.errors import BadSignature, ConfigError, InvalidInput
from tests.matcher.factories import CompanyKit, public_pem


def test_api_tokens_are_random_256_bit_and_stored_as_sha256() -> None:
    tokens = {new_api_token() for _ in range(50)}
    assert len(tokens) == 50
    for token in tokens:
        assert re.fullmatch(r"cc_[A-Za-z0-9_-]{43}", token)
        assert len(base64.urlsafe_b64decode(token[3:] + "=")) == 32
        assert re.fullmatch(r"[0-9a-f]{64}", api_token_hash(token))
        assert token not in api_token_hash(token)


@pytest.mark.parametrize(("kem", "blocks"), [("X25519", 1), ("MLKEM768-X25519", 2)])
def test_reveal_key_pairs_have_the_contract_layout(kem: str, blocks: int) -> None:
    pair = generate_reveal_key_pair(kem)  # type: ignore[arg-type]
    assert pair.public_pem.count(b"-----BEGIN PUBLIC KEY-----") == blocks
    assert pair.private_pem.count(b"-----BEGIN PRIVATE KEY-----") == blocks
    assert pem_fingerprint(pair.public_pem) != pem_fingerprint(
        generate_reveal_key_pair(kem).public_pem
    )  # type: ignore[arg-type]
    # The last block is the X25519 key in both layouts (ML-KEM first in the hybrid).
    last = (
        b"-----BEGIN PRIVATE KEY-----" + pair.private_pem.split(b"-----BEGIN PRIVATE KEY-----")[-1]
    )
    assert isinstance(serialization.load_pem_private_key(last, None), X25519PrivateKey)


def test_private_key_file_is_0600_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "reveal.key"
    write_private_key_file(path, b"secret")
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(ConfigError, match="exists already"):
        write_private_key_file(path, b"other")
    assert path.read_bytes() == b"secret"


def test_manifest_signature_verifies_only_unchanged_and_with_the_right_key() -> None:
    key = Ed25519PrivateKey.generate()
    kit = CompanyKit("a", key, {})
    manifest = kit.package("f" * 32).manifest
    verify_manifest_signature(public_pem(key), manifest)
    with pytest.raises(BadSignature, match="company a"):
        verify_manifest_signature(public_pem(key), manifest.model_copy(update={"row_count": 1}))
    with pytest.raises(BadSignature):
        verify_manifest_signature(public_pem(Ed25519PrivateKey.generate()), manifest)
    with pytest.raises(BadSignature):
        verify_manifest_signature(public_pem(key), manifest.model_copy(update={"signature": "**"}))
    assert signing_payload(manifest).startswith(b"crosscheck-manifest-v1\n")


def test_only_ed25519_public_keys_are_registered() -> None:
    pem = public_pem(Ed25519PrivateKey.generate())
    assert normalise_signing_public_key(pem) == pem
    x = (
        X25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with pytest.raises(InvalidInput, match="Ed25519"):
        normalise_signing_public_key(x)
    with pytest.raises(InvalidInput):
        normalise_signing_public_key("not a key")
