"""Benchmarks of the matcher on real packages: upload + ingest of a 1M-record package over
loopback, and a matching run over 3 companies x 1M records (both lanes).

The packages are made by the real connector from seeded synthetic registers (outside the clock);
the matcher runs as `matcher serve` on 127.0.0.1; the run is `matcher run` as a subprocess whose
whole process tree's memory is sampled.

Run: ``make bench`` or
``.venv/bin/python -m pytest benchmarks/bench_service.py --benchmark-only -s``.
Set CROSSCHECK_BENCH_RECORDS to try another size (default 1000000).
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks._rss import run_measured
from connectors.cli.main import main as connector
from connectors.upload import upload_package
from demo.server import serving
from matcher.cli.main import main as matcher
from synthetic.registers import generate

RECORDS = int(os.environ.get("CROSSCHECK_BENCH_RECORDS", "1000000"))
AS_OF = "2026-11-01"
POLICY = Path(__file__).parents[1] / "policies" / "concurrent-tenancy.toml"


def _json(*argv: str) -> Any:
    out = io.StringIO()
    with redirect_stdout(out):
        assert matcher(list(argv)) == 0
    return json.loads(out.getvalue())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("bench-service")
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
        run_measured([sys.executable, "-m", "connectors.cli.main", "-q", "pseudonymise",
                      str(item.export), "--profile", str(ws / "connector.toml"), "--out",
                      str(package), "--as-of", AS_OF])  # fmt: skip
        assert matcher(["-q", "companies", "add", item.company_id, "--name", item.company_id,
                        "--signing-key", str(ws / "signing.pub"), "--data-dir",
                        str(data_dir)]) == 0  # fmt: skip
        officer = _json("users", "add", f"{item.company_id}-data", "--role", "data_officer",
                        "--company", item.company_id, "--data-dir", str(data_dir),
                        "--json")  # fmt: skip
        token = officer["token"]
        companies[item.company_id] = (package, token)
    return {"root": root, "data_dir": data_dir, "companies": companies}


def test_upload_and_ingest_1m_package(benchmark, world: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    root, data_dir = world["root"], world["data_dir"]
    with serving(data_dir, root / "serve.log") as url:
        timeout = httpx.Timeout(600.0, connect=10.0)
        results = []

        def upload_all() -> None:
            with httpx.Client(base_url=url, timeout=timeout) as client:
                for package, token in world["companies"].values():
                    start = time.perf_counter()
                    result = upload_package(package, client=client, token=token)
                    results.append((package, time.perf_counter() - start, result))

        benchmark.pedantic(upload_all, rounds=1, iterations=1)
    for package, seconds, result in results:
        size = (package / "records.parquet").stat().st_size / 2**20
        assert result.created
        print(f"\nupload + ingest {result.rows} records ({size:.0f} MiB): {seconds:.1f} s")
    benchmark.extra_info["seconds_per_package"] = [round(s, 1) for _, s, _ in results]


def test_matching_run_3_companies(benchmark, world: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    measured = []

    def run() -> None:
        measured.append(
            run_measured(
                [
                    sys.executable,
                    "-m",
                    "matcher.cli.main",
                    "-q",
                    "run",
                    "--data-dir",
                    str(world["data_dir"]),
                    "--policy",
                    str(POLICY),
                    "--run-date",
                    AS_OF,
                ]
            )
        )

    benchmark.pedantic(run, rounds=1, iterations=1)
    (result,) = measured
    benchmark.extra_info["peak_tree_mib"] = result.peak_tree_mib
    print(f"\nmatching run over 3 x {RECORDS} records: {result.seconds:.1f} s, "
          f"peak memory {result.peak_tree_mib} MiB")  # fmt: skip
