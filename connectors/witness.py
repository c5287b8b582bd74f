"""A company's witness of the matcher's access log (C2SP tlog-witness, pull model).

Run from cron (``connector witness run``), the witness asks the matcher for the newest
checkpoint and the RFC 9162 consistency proof from the checkpoint it cosigned last, checks the
checkpoint's signature with the log key it pinned, checks the proof, cosigns (Ed25519
cosignature/v1) and sends the cosignature back. It keeps the last checkpoint it cosigned in
its folder, so a matcher that shows this company a history the others did not see (a split
view), or rewrites what it showed before, is caught the next time: the witness refuses, keeps
the evidence (both checkpoints and the failing proof) in ``evidence/`` and exits 3.

The folder (``connector witness init``): ``witness.key`` (private, 0600), ``witness.pub`` (give
it to the matcher's operator), ``witness.toml`` (the witness name, the log's key name and the
pinned log key's file, the matcher's URL and optionally the token file; the token may also come
from $CROSSCHECK_TOKEN), ``latest-checkpoint.txt`` after the first cosignature.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from connectors.errors import ConnectorError, UploadError
from connectors.pseudonymise import (
    LogVerifier,
    SigningKey,
    cosign_checkpoint,
    load_log_verifier,
    load_signing_key,
    new_signing_key,
    write_secret_file,
)
from contract import tlog

__all__ = [
    "ForkDetected",
    "Witness",
    "WitnessResult",
    "init_witness",
    "load_witness",
    "witness_once",
]

_CONFIG = "witness.toml"
_LATEST = "latest-checkpoint.txt"


class ForkDetected(ConnectorError):
    """The matcher showed a checkpoint that does not extend the one this witness cosigned."""

    exit_code = 3


@dataclass(frozen=True)
class Witness:
    folder: Path
    name: str
    log: LogVerifier
    key: SigningKey
    matcher_url: str
    token_file: Path | None

    @property
    def latest_path(self) -> Path:
        return self.folder / _LATEST

    def latest(self) -> tlog.CheckpointBody | None:
        """The checkpoint this witness cosigned last, or None before the first."""
        if not self.latest_path.exists():
            return None
        note = tlog.parse_note(self.latest_path.read_text(encoding="utf-8"))
        return tlog.parse_checkpoint_body(note.text)


@dataclass(frozen=True)
class WitnessResult:
    size: int
    previous_size: int
    cosigned: bool  # False: nothing new since the last cosignature


def init_witness(
    folder: Path,
    name: str,
    log_name: str,
    log_key_file: Path,
    matcher_url: str,
    token_file: Path | None = None,
) -> Path:
    """Make the witness folder: key pair, config naming the pinned log key; the public key."""
    if not matcher_url.startswith(("http://", "https://")):
        raise ConnectorError(f"--matcher-url {matcher_url!r}: expected an http(s) URL")
    if not name or any(c.isspace() or c == "+" for c in name):
        raise ConnectorError(
            "a witness name has no spaces and no '+', e.g. witness.bostadsbolaget.se/w1"
        )
    load_log_verifier(log_key_file, log_name)  # refuse a wrong log key now, not at first run
    if (folder / _CONFIG).exists():
        raise ConnectorError(f"{folder} is already a witness folder; use another folder")
    folder.mkdir(parents=True, exist_ok=True)
    private_pem, public_pem = new_signing_key()
    write_secret_file(folder / "witness.key", private_pem)
    (folder / "witness.pub").write_bytes(public_pem)
    config = (
        f"# connector witness: written by `connector witness init`\n"
        f"name = {json.dumps(name)}\n"
        f"log_name = {json.dumps(log_name)}\n"
        f"log_key = {json.dumps(str(log_key_file.resolve()))}\n"
        f"matcher_url = {json.dumps(matcher_url)}\n"
        + (f"token_file = {json.dumps(str(token_file.resolve()))}\n" if token_file else "")
    )
    (folder / _CONFIG).write_text(config, encoding="utf-8")
    return folder / "witness.pub"


def load_witness(folder: Path) -> Witness:
    config_path = folder / _CONFIG
    try:
        config = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConnectorError(
            f"{folder} is not a witness folder (no {_CONFIG}); make one with "
            "`connector witness init`"
        ) from None
    return Witness(
        folder,
        str(config["name"]),
        load_log_verifier(Path(config["log_key"]), str(config["log_name"])),
        load_signing_key(folder / "witness.key"),
        str(config["matcher_url"]),
        Path(config["token_file"]) if "token_file" in config else None,
    )


def _get(client: httpx.Client, token: str, path: str, **params: Any) -> Any:
    try:
        response = client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        raise UploadError(f"the matcher could not be reached ({type(exc).__name__})") from None
    if response.status_code != 200:
        raise UploadError(f"the matcher answered {response.status_code} to GET {path}")
    return response.json()


def _keep_evidence(witness: Witness, view: dict[str, Any], why: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = witness.folder / "evidence" / stamp
    folder.mkdir(parents=True, exist_ok=True)
    if witness.latest_path.exists():
        (folder / "cosigned-before.txt").write_bytes(witness.latest_path.read_bytes())
    (folder / "shown-now.txt").write_text(str(view.get("checkpoint", "")), encoding="utf-8")
    (folder / "proof.json").write_text(json.dumps(view, indent=2), encoding="utf-8")
    (folder / "why.txt").write_text(why + "\n", encoding="utf-8")
    return folder


def _fork(witness: Witness, view: dict[str, Any], why: str) -> ForkDetected:
    folder = _keep_evidence(witness, view, why)
    return ForkDetected(
        f"REFUSED TO COSIGN: {why}. The matcher may be showing different histories of the "
        f"access log to different companies. The evidence is kept in {folder}; send it to the "
        "auditors and the other companies, and do not delete it"
    )


def witness_once(
    witness: Witness, client: httpx.Client, token: str, now: float | None = None
) -> WitnessResult:
    """Fetch, check and cosign the newest checkpoint once (raises :class:`ForkDetected`)."""
    previous = witness.latest()
    from_size = 0 if previous is None else previous.size
    view = _get(client, token, "/v1/witness/checkpoint", **{"from": from_size})
    try:
        note = tlog.parse_note(str(view["checkpoint"]))
        body = tlog.parse_checkpoint_body(note.text)
        proof = [base64.b64decode(p, validate=True) for p in view["proof"]]
    except (KeyError, TypeError, tlog.NoteError, binascii.Error, ValueError):
        raise _fork(
            witness, view, "the matcher's answer is not a checkpoint with a proof"
        ) from None
    if not witness.log.signed(note):
        raise _fork(witness, view, "the checkpoint is not signed by the log key you pinned")
    if body.origin != witness.log.name:
        raise _fork(witness, view, f"the checkpoint is for another log ({body.origin})")
    if previous is not None:
        if body.size < previous.size:
            raise _fork(witness, view, f"the log shrank from {previous.size} to {body.size}")
        if not tlog.verify_consistency(previous.size, body.size, previous.root, body.root, proof):
            raise _fork(
                witness,
                view,
                f"the checkpoint of size {body.size} does not extend the one of size "
                f"{previous.size} this witness cosigned (the consistency proof fails)",
            )
        if body.size == previous.size:
            return WitnessResult(body.size, previous.size, cosigned=False)
    timestamp = int(time.time() if now is None else now)
    line = cosign_checkpoint(witness.key, note.text, witness.name, timestamp)
    try:
        response = client.post(
            "/v1/witness/cosignatures",
            json={"size": body.size, "cosignature": line},
            headers={"Authorization": f"Bearer {token}"},
        )
    except httpx.HTTPError as exc:
        raise UploadError(f"the matcher could not be reached ({type(exc).__name__})") from None
    if response.status_code != 201:
        raise UploadError(
            f"the matcher refused the cosignature ({response.status_code}): "
            f"{_detail(response)}; is this witness's key registered for your company?"
        )
    # Only after the matcher kept it: the next run proves consistency from here.
    tmp = witness.latest_path.with_suffix(".tmp")
    tmp.write_text(note.render(), encoding="utf-8")
    tmp.replace(witness.latest_path)
    return WitnessResult(body.size, 0 if previous is None else previous.size, cosigned=True)


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", ""))[:300]
    except ValueError:
        return ""
