"""Memory of `matcher run` when one company uploads a hostile package (issue 10, item 2).

Three companies' real packages (the connector, seeded synthetic registers) are uploaded to a
`matcher serve` on 127.0.0.1, then measured as `matcher run` subprocesses (whole process tree):

1. the normal run;
2. company 1's data officer uploads a hostile package (20 million identical rows, the exact
   schema of its real encoding, signed with its real connector signing key): the upload's time
   and the server's memory, then the run again;
3. the same hostile records planted in the store as company 1's active extract, as if the old
   intake had accepted them: the run leaves it out (``run.skip_extract``) and matches the other
   two. (Before the fix such a run grew past 8 GB; that one is not re-run on a shared machine.)

Run: ``.venv/bin/python -m pytest benchmarks/bench_intake_attack.py --benchmark-only -s``.
Set CROSSCHECK_BENCH_RECORDS for another register size (default 100000).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import secrets
import sys
import time
import uuid
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks._rss import Measured, run_measured
from connectors.cli.main import main as connector
from connectors.pseudonymise.keys import load_signing_key, sign_manifest
from connectors.upload import upload_package
from contract import Manifest
from demo.server import serving
from matcher.cli.main import main as matcher
from matcher.settings import load_settings
from matcher.store.blobs import BlobStore
from matcher.store.database import create_database_engine
from matcher.store.extracts import NewExtract, store_extract
from matcher.store.users import user_for_token
from synthetic.registers import generate
from tests.matcher.factories import constant_records

RECORDS = int(os.environ.get("CROSSCHECK_BENCH_RECORDS", "100000"))
HOSTILE_ROWS = 20_000_000
AS_OF = "2026-11-01"
POLICY = Path(__file__).parents[1] / "policies" / "concurrent-tenancy.toml"


def _json(*argv: str) -> Any:
    out = io.StringIO()
    with redirect_stdout(out):
        assert matcher(list(argv)) == 0
    return json.loads(out.getvalue())


def _run(data_dir: Path) -> Measured:
    return run_measured([sys.executable, "-m", "matcher.cli.main", "-q", "run", "--data-dir",
                         str(data_dir), "--policy", str(POLICY), "--run-date", AS_OF])  # fmt: skip


def _hostile(package: Path, workspace: Path) -> tuple[Manifest, bytes]:
    """A correctly signed 20M-row package in the company's own encoding."""
    genuine = Manifest.model_validate_json((package / "manifest.json").read_bytes())
    records = constant_records(genuine.encoding, HOSTILE_ROWS)
    unsigned = genuine.model_copy(
        update={
            "extract_id": uuid.uuid4(),
            "row_count": HOSTILE_ROWS,
            "records_sha256": hashlib.sha256(records).hexdigest(),
            "wrapped_data_key": base64.b64encode(secrets.token_bytes(80)).decode(),
            "signature": "",
        }
    )
    return sign_manifest(unsigned, load_signing_key(workspace / "signing.key")), records


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("bench-intake-attack")
    data_dir = root / "matcher-data"
    _json("init", "--data-dir", str(data_dir), "--json")
    assert matcher(["-q", "keys", "reveal-public", "--data-dir", str(data_dir), "--out",
                    str(root / "reveal.pub")]) == 0  # fmt: skip
    assert connector(["-q", "keys", "new-matching-key", "--out", str(root / "matching.key")]) == 0
    synthetic = generate(root / "registers", companies=3, records=RECORDS, seed=3,
                         fast_formats=True)  # fmt: skip
    companies = {}
    for item in synthetic.companies:
        ws = root / f"ws-{item.company_id}"
        package = root / f"pkg-{item.company_id}"
        assert connector(["-q", "init", str(ws), "--company", item.company_id, "--matching-key",
                          str(root / "matching.key"), "--sample", str(item.export),
                          "--reveal-key", str(root / "reveal.pub")]) == 0  # fmt: skip
        assert connector(["-q", "pseudonymise", str(item.export), "--profile",
                          str(ws / "connector.toml"), "--out", str(package), "--as-of",
                          AS_OF]) == 0  # fmt: skip
        assert matcher(["-q", "companies", "add", item.company_id, "--name", item.company_id,
                        "--signing-key", str(ws / "signing.pub"), "--data-dir",
                        str(data_dir)]) == 0  # fmt: skip
        officer = _json("users", "add", f"{item.company_id}-data", "--role", "data_officer",
                        "--company", item.company_id, "--data-dir", str(data_dir),
                        "--json")  # fmt: skip
        companies[item.company_id] = (package, ws, officer["token"])
    return {"root": root, "data_dir": data_dir, "companies": companies}


def test_run_memory_with_a_hostile_package(benchmark, world: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    root, data_dir = world["root"], world["data_dir"]
    first = next(iter(world["companies"]))
    package, workspace, token = world["companies"][first]
    manifest, records = _hostile(package, workspace)
    figures: dict[str, Any] = {}
    with serving(data_dir, root / "serve.log") as url:
        with httpx.Client(base_url=url, timeout=httpx.Timeout(600.0, connect=10.0)) as client:
            for pkg, _ws, officer in world["companies"].values():
                assert upload_package(pkg, client=client, token=officer).created
        figures["normal"] = _run(data_dir)
        start = time.perf_counter()
        refused = httpx.post(
            f"{url}/v1/extracts",
            files={
                "manifest": (
                    "manifest.json",
                    manifest.model_dump_json().encode(),
                    "application/json",
                ),
                "records": ("records.parquet", records, "application/octet-stream"),
            },
            headers={"Authorization": f"Bearer {token}"},
            timeout=600,
        )
        figures["upload_seconds"] = time.perf_counter() - start
        assert refused.status_code == 413, refused.text
        figures["after_refused_upload"] = _run(data_dir)

    # As if the old intake had accepted it: the hostile records become the active extract.
    settings = load_settings(data_dir)
    blobs = BlobStore(settings.blob_dir)
    pending = blobs.receive(settings.max_upload_bytes)
    pending.write(records)
    pending.finish()
    key = blobs.commit(pending)
    engine = create_database_engine(settings.database_url)
    with engine.begin() as conn:
        user = user_for_token(conn, token)
        assert user is not None
        store_extract(conn, NewExtract(
            id=str(manifest.extract_id), company_id=first, as_of=manifest.as_of,
            uploaded_by=user.id, row_count=HOSTILE_ROWS, size_bytes=len(records),
            records_sha256=key, blob_key=key, manifest=manifest.model_dump(mode="json"),
            contract_version=manifest.contract_version, encoding_digest=manifest.encoding_digest,
            matching_key_epoch=manifest.matching_key_epoch,
            reveal_key_fingerprint=manifest.reveal_key_fingerprint,
            wrapped_data_key=manifest.wrapped_data_key,
        ))  # fmt: skip
    engine.dispose()
    measured = []
    benchmark.pedantic(lambda: measured.append(_run(data_dir)), rounds=1, iterations=1)
    figures["hostile_in_store"] = measured[0]
    for name in ("normal", "after_refused_upload", "hostile_in_store"):
        result = figures[name]
        benchmark.extra_info[f"{name}_peak_tree_mib"] = result.peak_tree_mib
        print(f"\n{name}: matching run over 3 x {RECORDS} records: {result.seconds:.1f} s, "
              f"peak memory {result.peak_tree_mib} MiB")  # fmt: skip
    print(f"\nhostile upload ({len(records) / 2**20:.1f} MiB, {HOSTILE_ROWS} rows) refused in "
          f"{figures['upload_seconds']:.2f} s")  # fmt: skip
