"""`matcher audit` and `matcher policies` as an operator and an auditor use them: export after
real actions verifies offline with only the public key; one changed byte fails naming the entry;
policy files are checked with every problem's key path before activation."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from matcher.actions.runs import SHIPPED_POLICY
from matcher.app import create_app
from matcher.cli.main import main
from matcher.settings import load_settings
from tests.matcher.factories import auth, run_to_end

TOKEN = re.compile(r"\bcc_[A-Za-z0-9_-]{43}\b")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def data_dir(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> tuple[Path, str]:
    """An initialised data directory with a few real actions in its log."""
    from fastapi.testclient import TestClient

    d = tmp_path / "data"
    code, out, _ = run(capsys, "init", "--data-dir", str(d))
    assert code == 0
    token = TOKEN.findall(out)[0]
    assert run(capsys, "policies", "activate", str(SHIPPED_POLICY), "--data-dir", str(d))[0] == 0
    with TestClient(create_app(load_settings(d))) as client:
        assert client.get("/v1/companies", headers=auth(token)).status_code == 200
        assert client.get("/v1/companies").status_code == 401
        assert run_to_end(client, token)["status"] == "succeeded"
    return d, token


def _export_and_key(
    capsys: pytest.CaptureFixture[str], d: Path, tmp_path: Path
) -> tuple[Path, Path, str]:
    key = tmp_path / "auditor" / "log.pub"
    code, out, _ = run(capsys, "audit", "public-key", "--data-dir", str(d), "--out", str(key))
    assert code == 0 and b"PRIVATE" not in key.read_bytes()
    key_name = out.split("key name: ")[1].strip()
    export = tmp_path / "auditor" / "export.jsonl"
    code, out, _ = run(capsys, "audit", "export", "--data-dir", str(d), "--out", str(export))
    assert code == 0 and "exported" in out
    return export, key, key_name


def test_export_after_real_actions_verifies_offline(
    capsys: pytest.CaptureFixture[str], data_dir: tuple[Path, str], tmp_path: Path
) -> None:
    export, key, key_name = _export_and_key(capsys, data_dir[0], tmp_path)
    code, out, err = run(
        capsys, "audit", "verify", str(export), "--public-key", str(key), "--key-name", key_name
    )
    assert code == 0, err
    assert out.startswith("OK: ") and len(out.strip().splitlines()) == 1
    lines = export.read_bytes().splitlines()
    actions = [json.loads(line)["action"] for line in lines[1:-1]]
    assert actions[:2] == ["user.create", "policy.activate"]
    assert {"company.list", "access.denied", "run.start", "run.finish"} <= set(actions)
    # the anonymous refusal was tallied, and the export wrote the tally out first
    denied = [json.loads(line) for line in lines[1:-1] if b'"access.denied"' in line]
    assert [d["object"]["count"] for d in denied] == ["1"] and actions[-1] == "access.denied"
    assert f"{len(actions)} entries" in out


@pytest.mark.parametrize(
    ("old", "new", "why"),
    [
        (b'"seq":3,', b'"seq":3 ', "not valid JSON"),
        (b'"result":"allowed"', b'"result":"allowee"', "not a valid audit entry"),
    ],
)
def test_one_changed_byte_fails_and_names_the_entry(
    capsys: pytest.CaptureFixture[str],
    data_dir: tuple[Path, str],
    tmp_path: Path,
    old: bytes,
    new: bytes,
    why: str,
) -> None:
    export, key, _ = _export_and_key(capsys, data_dir[0], tmp_path)
    lines = export.read_bytes().split(b"\n")
    assert old in lines[4]
    lines[4] = lines[4].replace(old, new, 1)
    export.write_bytes(b"\n".join(lines))
    code, out, err = run(capsys, "audit", "verify", str(export), "--public-key", str(key))
    assert code == 1 and out == ""
    assert "entry seq 3 (line 5)" in err and why in err


def test_verify_with_another_key_fails(
    capsys: pytest.CaptureFixture[str], data_dir: tuple[Path, str], tmp_path: Path
) -> None:
    export, _, _ = _export_and_key(capsys, data_dir[0], tmp_path)
    other = tmp_path / "other.pub"
    other.write_bytes(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    code, _, err = run(capsys, "audit", "verify", str(export), "--public-key", str(other))
    assert code == 1 and "does not verify" in err


def test_policies_check_lists_every_problem_and_activate_refuses_them(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "policies", "check", str(SHIPPED_POLICY))
    assert code == 0 and "no problems" in out
    broken = tmp_path / "broken.toml"
    broken.write_bytes(
        SHIPPED_POLICY.read_bytes()
        .replace(b"approvals_required = 1", b"approvals_required = 0")
        .replace(b"[legal_basis]", b"[legal_basiz]")
    )
    code, _, err = run(capsys, "policies", "check", str(broken))
    assert code == 1
    assert "reveal.approvals_required" in err and "legal_basis" in err

    d = tmp_path / "data"
    assert run(capsys, "init", "--data-dir", str(d))[0] == 0
    code, out, err = run(capsys, "policies", "activate", str(broken), "--data-dir", str(d))
    assert code == 1 and "not activated" in err and "reveal.approvals_required" in err
    code, out, _ = run(capsys, "policies", "list", "--json", "--data-dir", str(d))
    assert json.loads(out) == []
    code, out, _ = run(capsys, "policies", "activate", str(SHIPPED_POLICY), "--data-dir", str(d))
    assert code == 0 and "activated policy concurrent-tenancy" in out
    code, out, _ = run(capsys, "policies", "retire", "concurrent-tenancy", "--data-dir", str(d))
    assert code == 0 and "retired" in out
    code, _, err = run(capsys, "run", "--data-dir", str(d))
    assert code == 1 and "matcher policies activate FILE" in err


def test_console_changes_to_companies_and_users_are_logged(
    capsys: pytest.CaptureFixture[str], data_dir: tuple[Path, str], tmp_path: Path
) -> None:
    d = str(data_dir[0])
    public = tmp_path / "signing.pub"
    public.write_bytes(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert run(capsys, "companies", "add", "linbo", "--name", "Linbo", "--signing-key",
               str(public), "--data-dir", d)[0] == 0  # fmt: skip
    assert run(capsys, "users", "add", "anna", "--role", "investigator", "--company", "linbo",
               "--data-dir", d)[0] == 0  # fmt: skip
    assert run(capsys, "users", "revoke", "anna", "--data-dir", d)[0] == 0
    export, _, _ = _export_and_key(capsys, data_dir[0], tmp_path)
    entries = [json.loads(line) for line in export.read_bytes().splitlines()[1:-1]]
    console = [e for e in entries if e["actor"]["id"].startswith("cli:")]
    assert [e["action"] for e in console][-3:] == ["company.create", "user.create", "user.revoke"]
    assert all("anna" not in json.dumps(e) for e in console)  # ids, never names
