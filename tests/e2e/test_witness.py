"""Witnesses of the access log (issue 15, witness cosigning) against real `matcher serve`s.

Three companies each run `connector witness` (the CLI, as cron would); the matcher keeps the
cosignatures that verify with the keys the operator registered; `matcher audit verify
--cosigned` passes with K of the 3 witnesses and fails when fewer cosigned or a key is wrong.
A forked log (a second matcher with the same log key and name but another history) is caught
by the witness that cosigned the first: it refuses, exits 3 and keeps the evidence.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from connectors.cli.main import main as connector
from connectors.witness import ForkDetected, load_witness, witness_once
from demo.server import serving
from matcher.cli.main import main as matcher
from tests.security.conftest import cli_json

COMPANIES = ("linbo", "stangastaden", "hem")


def _signing_key(path: Path) -> Path:
    path.write_bytes(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return path


@dataclass(frozen=True)
class Log:
    data_dir: Path
    admin: str
    officers: dict[str, str]  # company -> data officer token
    origin: str


def _matcher(root: Path, name: str, origin: str, log_key: Path | None = None) -> Log:
    data_dir = root / name
    admin = cli_json("init", "--data-dir", str(data_dir))["admin_token"]
    toml = data_dir / "matcher.toml"
    text = toml.read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if not ln.startswith("log_origin")]
    toml.write_text("\n".join([*lines, f'log_origin = "{origin}"']) + "\n", encoding="utf-8")
    if log_key is not None:  # the same log key: a fork, not another log
        shutil.copyfile(log_key, data_dir / "keys" / "log.key")
    d = ("--data-dir", str(data_dir))
    officers = {}
    for cid in COMPANIES:
        key = _signing_key(root / f"{name}-{cid}.pub")
        assert matcher(["-q", "companies", "add", cid, "--name", cid.title(), "--signing-key",
                        str(key), *d]) == 0  # fmt: skip
        officers[cid] = cli_json("users", "add", f"{cid}-officer", "--role", "data_officer",
                              "--company", cid, *d)["token"]  # fmt: skip
    return Log(data_dir, admin, officers, origin)


def _init(
    folder: Path, name: str, log: Log, log_pub: Path, url: str, token_file: Path, token: str
) -> None:
    token_file.write_text(token, encoding="utf-8")
    argv = ["--name", name, "--log-name", log.origin, "--log-key", str(log_pub)]
    argv += ["--matcher-url", url, "--token-file", str(token_file)]
    assert connector(["witness", "init", str(folder), *argv]) == 0


def _register(url: str, admin: str, cid: str, name: str, public: Path) -> None:
    response = httpx.post(
        f"{url}/v1/companies/{cid}/witnesses",
        json={"name": name, "public_key": public.read_text(encoding="ascii")},
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert response.status_code == 201, response.text


def test_three_witnesses_cosign_and_verify_needs_k_of_them(tmp_path: Path) -> None:
    log = _matcher(tmp_path, "matcher", "crosscheck.test")
    log_pub = tmp_path / "log.pub"
    assert matcher(["-q", "audit", "public-key", "--data-dir", str(log.data_dir),
                    "--out", str(log_pub)]) == 0  # fmt: skip
    with serving(log.data_dir, tmp_path / "serve.log") as url:
        folders = {}
        for cid in COMPANIES:
            folder = tmp_path / f"witness-{cid}"
            name = f"witness.{cid}.se/w1"
            _init(folder, name, log, log_pub, url, tmp_path / f"{cid}.token", log.officers[cid])
            assert (folder / "witness.key").stat().st_mode & 0o077 == 0
            if cid == "hem":  # the operator's CLI, the same action as the API
                assert matcher(["-q", "companies", "add-witness", cid, "--name", name,
                                "--witness-key", str(folder / "witness.pub"),
                                "--data-dir", str(log.data_dir)]) == 0  # fmt: skip
            else:
                _register(url, log.admin, cid, name, folder / "witness.pub")
            folders[cid] = folder
        for cid in COMPANIES:
            assert connector(["-q", "witness", "run", str(folders[cid])]) == 0
        # within the same period there is nothing new to cosign
        assert connector(["witness", "run", str(folders["linbo"])]) == 0
        # a cosignature by a witness not registered for the company is refused, nothing kept
        stranger = tmp_path / "stranger"
        token = tmp_path / "linbo.token"
        _init(stranger, "witness.evil/w1", log, log_pub, url, token, log.officers["linbo"])
        assert connector(["-q", "witness", "run", str(stranger)]) == 1
        assert not (stranger / "latest-checkpoint.txt").exists()
        cosigned = httpx.get(
            f"{url}/v1/witness/cosigned", headers={"Authorization": f"Bearer {log.admin}"}
        )
        assert cosigned.status_code == 200
    note = tmp_path / "cosigned.txt"
    note.write_text(cosigned.text, encoding="utf-8")
    export = tmp_path / "export.jsonl"
    assert matcher(["-q", "audit", "export", "--data-dir", str(log.data_dir),
                    "--out", str(export)]) == 0  # fmt: skip
    witnesses = [f"--witness=witness.{c}.se/w1={folders[c] / 'witness.pub'}" for c in COMPANIES]
    base = ["audit", "verify", str(export), "--public-key", str(log_pub), "--cosigned", str(note)]
    # the three polled within one publication period: they cosigned the same checkpoint
    assert cosigned.text.count("\u2014 witness.") == 3
    assert matcher([*base, *witnesses]) == 0  # all three required by default
    wrong = _signing_key(tmp_path / "wrong.pub")
    swapped = [*witnesses[:2], f"--witness=witness.hem.se/w1={wrong}"]
    assert matcher([*base, *swapped, "--min-witnesses", "3"]) == 1
    assert matcher([*base, *swapped, "--min-witnesses", "2"]) == 0
    # no export, no witnessing: refused with exit 1
    assert matcher([*base[:2], str(tmp_path / "missing.jsonl"), *base[3:], *witnesses]) == 1


def test_a_forked_log_is_caught_and_the_evidence_kept(tmp_path: Path) -> None:
    first = _matcher(tmp_path, "first", "crosscheck.fork")
    log_pub = tmp_path / "log.pub"
    assert matcher(["-q", "audit", "public-key", "--data-dir", str(first.data_dir),
                    "--out", str(log_pub)]) == 0  # fmt: skip
    # Another history under the same log key and name: what a dishonest operator shows others.
    fork = _matcher(tmp_path, "fork", "crosscheck.fork", first.data_dir / "keys" / "log.key")
    folder = tmp_path / "witness"
    token = tmp_path / "token"
    _init(folder, "witness.linbo.se/w1", first, log_pub, "http://127.0.0.1:9", token, "unused")
    witness = load_witness(folder)
    for log in (first, fork):
        with serving(log.data_dir, tmp_path / "serve.log") as url:
            _register(url, log.admin, "linbo", witness.name, folder / "witness.pub")
            with httpx.Client(base_url=url, timeout=30) as client:
                if log is first:
                    assert witness_once(witness, client, log.officers["linbo"]).cosigned
                    continue
                # extra entries so the fork is longer than what was cosigned
                for _ in range(3):
                    client.get("/v1/companies", headers={"Authorization": f"Bearer {log.admin}"})
                with pytest.raises(ForkDetected, match="REFUSED TO COSIGN") as refused:
                    witness_once(witness, client, log.officers["linbo"])
    assert refused.value.exit_code == 3
    (evidence,) = (folder / "evidence").iterdir()
    assert {p.name for p in evidence.iterdir()} == {
        "cosigned-before.txt", "shown-now.txt", "proof.json", "why.txt",
    }  # fmt: skip
    assert "does not extend" in (evidence / "why.txt").read_text(encoding="utf-8")
