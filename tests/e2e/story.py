"""The shared end-to-end story: synthetic registers -> workspaces -> packages, and the checks
on what investigators then see. Used in-process (TestClient) and over loopback (`matcher serve`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from connectors.cli.main import main as connector
from synthetic.registers import SyntheticSet, generate

AS_OF = "2026-11-01"


@dataclass(frozen=True)
class Company:
    company_id: str
    export: Path
    workspace: Path
    package: Path

    @property
    def profile(self) -> Path:
        return self.workspace / "connector.toml"


def prepare_companies(
    root: Path, reveal_public: Path, *, companies: int = 3, records: int = 600, seed: int = 11
) -> tuple[SyntheticSet, list[Company]]:
    """Synthetic registers, one workspace and one package per company (no upload yet)."""
    synthetic = generate(root / "registers", companies=companies, records=records, seed=seed)
    assert connector(["-q", "keys", "new-matching-key", "--out", str(root / "matching.key")]) == 0
    prepared = []
    for item in synthetic.companies:
        workspace = root / f"ws-{item.company_id}"
        package = root / f"pkg-{item.company_id}"
        assert (
            connector(
                [
                    "-q",
                    "init",
                    str(workspace),
                    "--company",
                    item.company_id,
                    "--matching-key",
                    str(root / "matching.key"),
                    "--sample",
                    str(item.export),
                    "--reveal-key",
                    str(reveal_public),
                ]
            )
            == 0
        )
        assert (
            connector(
                [
                    "-q",
                    "pseudonymise",
                    str(item.export),
                    "--profile",
                    str(workspace / "connector.toml"),
                    "--out",
                    str(package),
                    "--as-of",
                    AS_OF,
                ]
            )
            == 0
        )
        prepared.append(Company(item.company_id, item.export, workspace, package))
    return synthetic, prepared


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def record_pairs(
    hits_by_company: dict[str, list[dict[str, Any]]], companies: list[Company]
) -> dict[int, dict[str, str]]:
    """hit id -> {company: record_id}, joining both sides' views through their local refs."""
    refs = {
        c.company_id: dict(pl.read_parquet(c.workspace / "refs.parquet").iter_rows())
        for c in companies
    }
    pairs: dict[int, dict[str, str]] = defaultdict(dict)
    for company_id, hits in hits_by_company.items():
        for hit in hits:
            pairs[hit["id"]][company_id] = refs[company_id][hit["own_ref"]]
    return dict(pairs)


def planted(truth: Path, kind: str) -> list[dict[str, str]]:
    """Planted cases of one kind: [{company: record_id, ...}] per case."""
    frame = pl.read_csv(truth, infer_schema=False).filter(pl.col("kind") == kind)
    cases: dict[str, dict[str, str]] = defaultdict(dict)
    for row in frame.iter_rows(named=True):
        cases[row["case_id"]][row["company"]] = row["record_id"]
    return [case for case in cases.values() if len(case) == 2]
