"""Benchmark: `connector pseudonymise` end to end on a synthetic 1M-row register export.

Everything a data officer's run does is timed: reading the Windows-1252 semicolon CSV, mapping,
normalising and validating, every token, Bloom filter, blocking key and sealed field, writing
and signing the package, the report and the local ref table. The export itself is generated
(seeded) before the clock starts.

Run: ``make bench`` or ``.venv/bin/python -m pytest benchmarks/bench_pipeline.py --benchmark-only``.
"""

from __future__ import annotations

import resource
import shutil
from datetime import date
from pathlib import Path

import pytest

from connectors import pseudonymise
from connectors.cli.main import main as connector
from connectors.pipeline import pseudonymise_export
from connectors.profile import load_profile
from connectors.synthetic import generate

SIZES = [100_000, 1_000_000]
AS_OF = date(2026, 11, 1)


def _peak_rss_mib() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round((own + children) / 1024, 1)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[Path, Path]]:
    root = tmp_path_factory.mktemp("bench-pipeline")
    assert connector(["-q", "keys", "new-matching-key", "--out", str(root / "matching.key")]) == 0
    _, public = pseudonymise.new_reveal_key_pair()
    (root / "reveal.pub").write_bytes(public)
    made: dict[int, tuple[Path, Path]] = {}
    for size in SIZES:
        synthetic = generate(
            root / f"registers-{size}", companies=2, records=size, seed=1, fast_formats=True
        )
        export = synthetic.companies[0].export  # linbo: semicolon CSV in Windows-1252
        ws = root / f"ws-{size}"
        assert connector(["-q", "init", str(ws), "--company", "linbo", "--matching-key",
                          str(root / "matching.key"), "--sample", str(export), "--reveal-key",
                          str(root / "reveal.pub")]) == 0  # fmt: skip
        made[size] = (export, ws / "connector.toml")
    return made


@pytest.mark.parametrize("size", SIZES, ids=lambda n: f"{n // 1000}k")
def test_pseudonymise_export(benchmark, workspace, size: int, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    export, profile_path = workspace[size]
    profile = load_profile(profile_path)
    out = tmp_path / "pkg"

    def run() -> None:
        shutil.rmtree(out, ignore_errors=True)
        pseudonymise_export(export, profile, out, as_of=AS_OF)

    benchmark.pedantic(run, rounds=1, iterations=1, warmup_rounds=0)
    seconds = benchmark.stats.stats.mean
    benchmark.extra_info["records_per_second"] = round(size / seconds)
    benchmark.extra_info["peak_rss_mib"] = _peak_rss_mib()
    print(
        f"\n{size} records: {seconds:.1f} s, {size / seconds:,.0f} records/s, "
        f"peak RSS (self + children) {_peak_rss_mib()} MiB"
    )
