"""Benchmark: pseudonymising 100k and 1M normalised rows (Encoder.encode + write_package),
and clkhash on the same identity columns in the same run.

Run: ``.venv/bin/python -m pytest benchmarks/bench_pseudonymise.py --benchmark-only -s``.
Records/s and peak RSS go into each result's ``extra_info`` and are printed. clkhash needs
``.venv-clkhash`` (``python -m venv .venv-clkhash && .venv-clkhash/bin/pip install clkhash``);
without it that comparison is skipped.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import polars as pl
import pytest

from benchmarks._data import normalised_rows
from connectors import package, pseudonymise

ROOT = Path(__file__).resolve().parent.parent
CLKHASH_PYTHON = ROOT / ".venv-clkhash" / "bin" / "python"
EXTRACT = UUID(int=2024)
SIZES = [100_000, 1_000_000]
WORKERS = 2


def _peak_rss_mib() -> dict[str, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"peak_rss_mib": round(own, 1), "peak_rss_children_mib": round(children, 1)}


def _pseudonymise(frame: pl.DataFrame, out_dir: Path) -> float:
    start = time.perf_counter()
    encoder = pseudonymise.Encoder(
        pseudonymise.new_matching_key(lambda n: bytes(n)), bytes(range(32))
    )
    data_key = pseudonymise.new_data_key()
    _, reveal_public = pseudonymise.new_reveal_key_pair()
    private_pem, _ = pseudonymise.new_signing_key()
    key_path = out_dir.parent / f"{out_dir.name}.sign.pem"
    key_path.unlink(missing_ok=True)
    pseudonymise.write_secret_file(key_path, private_pem)
    records = encoder.encode(frame, EXTRACT, data_key, workers=WORKERS)
    package.write_package(
        out_dir,
        records,
        company_id="bench",
        extract_id=EXTRACT,
        as_of=date(2024, 6, 1),
        created_at=datetime(2024, 6, 1, tzinfo=UTC),
        matching_key_epoch=encoder._matching_key.epoch,
        encoding=encoder.parameters,
        reveal_public_pem=reveal_public,
        wrapped_data_key=pseudonymise.wrap_data_key(data_key, reveal_public, "bench", EXTRACT),
        signing_key=pseudonymise.load_signing_key(key_path),
    )
    return time.perf_counter() - start


@pytest.mark.parametrize("size", SIZES, ids=lambda n: f"{n // 1000}k")
def test_bench_crosscheck_pseudonymise(benchmark: Any, tmp_path: Path, size: int) -> None:
    frame = normalised_rows(size)
    seconds: list[float] = []
    benchmark.pedantic(
        lambda: seconds.append(_pseudonymise(frame, tmp_path / "pkg")), rounds=1, iterations=1
    )
    rate = size / seconds[-1]
    benchmark.extra_info.update({"records_per_s": round(rate), **_peak_rss_mib()})
    print(f"\ncrosscheck {size}: {rate:,.0f} records/s, {benchmark.extra_info}")
    assert (tmp_path / "pkg" / "manifest.json").is_file()


@pytest.mark.parametrize("size", SIZES, ids=lambda n: f"{n // 1000}k")
def test_bench_clkhash_same_records(benchmark: Any, tmp_path: Path, size: int) -> None:
    if not CLKHASH_PYTHON.exists():
        pytest.skip("clkhash comparison needs .venv-clkhash (see the module docstring)")
    frame = normalised_rows(size).select(
        "first_name_key",
        "last_name_key",
        pl.col("birth_date").dt.to_string("%Y%m%d"),
        "street_name_key",
        pl.concat_str("street_number", "street_letter"),
        "postal_code",
    )
    csv_path = tmp_path / "pii.csv"
    frame.write_csv(csv_path)
    result: dict[str, float] = {}

    def run() -> None:
        output = subprocess.run(
            [
                str(CLKHASH_PYTHON),
                str(ROOT / "benchmarks" / "_clkhash_runner.py"),
                str(csv_path),
                str(WORKERS),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        result.update(json.loads(output.strip().splitlines()[-1]))

    benchmark.pedantic(run, rounds=1, iterations=1)
    rate = result["records"] / result["seconds"]
    benchmark.extra_info.update({"records_per_s": round(rate), **_peak_rss_mib()})
    print(f"\nclkhash {size}: {rate:,.0f} records/s (filters only), {benchmark.extra_info}")
    assert result["records"] == size


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "--benchmark-only", "-s"]))
