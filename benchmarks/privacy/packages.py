"""The attacker's material: real packages made by the real connector, and the ground truth.

:func:`prepare` writes synthetic registers (:func:`synthetic.registers.generate`), runs each
export through ``connector init --sample`` and ``connector pseudonymise`` exactly as a company
would, makes a second extract of one company a month later (2 % of tenants moved out, 2 % new
ones), and draws an independent *reference population* from the same generator with another
seed: the attacker's knowledge of the plaintext distribution of every field.

An :class:`Extract` carries what the matcher's operator holds (``records``: records.parquet as
uploaded, ``manifest``) and, separately, ``truth``: the normalised row of every ref, found
through the company's local ref table. Attacks read ``truth`` only to score their guesses.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, Final

import numpy as np
import polars as pl

from connectors import pseudonymise
from connectors.cli.main import main as connector
from connectors.pipeline import check_export
from connectors.profile import load_profile
from contract import FILTER_PREFIX
from synthetic.registers import generate

__all__ = ["AS_OF", "Extract", "Setting", "filter_spec_fields", "prepare"]

AS_OF: Final = date(2026, 11, 1)
SECOND_AS_OF: Final = date(2026, 12, 1)
CHURN: Final = 0.02  # share of tenants who move out, and of new ones, between two extracts
# A CSV layout the second extract can be edited in: (separator, encoding, line end).
_CSV_LAYOUTS: Final = {"motabo": (",", "utf-8", "\n"), "linbo": (";", "cp1252", "\r\n")}


@dataclass(frozen=True)
class Extract:
    """One uploaded package: the attacker's view and the scorer's ground truth."""

    company_id: str
    records: pl.DataFrame  # records.parquet, as the matcher stores it
    manifest: Mapping[str, Any]
    truth: pl.DataFrame  # ref + the normalised row (record_id, *_key, birth_date, ...)
    # filter column -> canonical fields it encodes (from the manifest; overridable in tests)
    filter_fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def truth_by_row(self) -> pl.DataFrame:
        """``truth`` in the row order of ``records`` (joined on ref)."""
        return self.records.select("ref").join(
            self.truth, on="ref", how="left", maintain_order="left"
        )


@dataclass(frozen=True)
class Setting:
    """Everything the harness runs on."""

    extracts: tuple[Extract, ...]  # one per company
    later: Extract  # a second extract of ``extracts[later_index]``, a month later
    later_index: int
    reference: pl.DataFrame  # normalised rows of an independent population (same generator)

    def with_extracts(self, extracts: tuple[Extract, ...], later: Extract) -> Setting:
        return replace(self, extracts=extracts, later=later)


def filter_spec_fields(
    manifest: Mapping[str, Any], columns: list[str]
) -> dict[str, tuple[str, ...]]:
    """Filter column -> its fields, by the manifest's filter specs.

    A column ``filter_<name>`` or ``filter_<name>__<pass>`` takes the spec named ``<name>``
    (or the full name), so per-pass salted filters resolve as well as today's.
    """
    specs = {spec["name"]: tuple(spec["fields"]) for spec in manifest["encoding"]["filters"]}
    found: dict[str, tuple[str, ...]] = {}
    for column in columns:
        if not column.startswith(FILTER_PREFIX):
            continue
        name = column.removeprefix(FILTER_PREFIX)
        fields = specs.get(name) or specs.get(name.split("__")[0])
        if fields is None and "name" in name:
            fields = ("first_name_key", "last_name_key")
        if fields is not None:
            found[column] = fields
    return found


def _run(argv: list[str]) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        code = connector(["-q", *argv])
    if code != 0:
        raise RuntimeError(f"connector {' '.join(argv)} exited with {code}")


def _normalised(export: Path, workspace: Path, as_of: date) -> pl.DataFrame:
    profile = load_profile(workspace / "connector.toml")
    return check_export(export, profile, as_of=as_of).accepted


def _load(company_id: str, package: Path, export: Path, workspace: Path, as_of: date) -> Extract:
    records = pl.read_parquet(package / "records.parquet")
    manifest = json.loads((package / "manifest.json").read_text("utf-8"))
    refs = pl.read_parquet(workspace / "refs.parquet")
    rows = _normalised(export, workspace, as_of)
    truth = (
        records.select("ref")
        .join(refs, on="ref", how="left")
        .join(rows, on="record_id", how="left")
    )
    return Extract(
        company_id, records, manifest, truth, filter_spec_fields(manifest, records.columns)
    )


def _edited_export(
    export: Path, newcomers: Path, layout: str, out: Path, rng: np.random.Generator
) -> None:
    """The same register a month later: CHURN of its rows gone, CHURN new rows appended."""
    separator, encoding, line_end = _CSV_LAYOUTS[layout]

    def read(path: Path) -> pl.DataFrame:
        text = path.read_bytes().decode(encoding)
        return pl.read_csv(io.StringIO(text), separator=separator, infer_schema=False)

    old, new = read(export), read(newcomers)
    id_column = old.columns[0]
    kept = old.filter(pl.Series(rng.random(old.height) >= CHURN))
    fresh = new.filter(~pl.col(id_column).is_in(old[id_column].implode()))
    fresh = fresh.head(int(CHURN * old.height))
    text = pl.concat([kept, fresh]).write_csv(separator=separator, line_terminator=line_end)
    out.write_bytes(text.encode(encoding))


def prepare(root: Path, *, companies: int = 3, records: int = 100_000, seed: int = 1) -> Setting:
    """Registers, workspaces and packages under ``root``; see the module docstring."""
    synthetic = generate(
        root / "registers", companies=companies, records=records, seed=seed, fast_formats=True
    )
    reference = generate(
        root / "reference", companies=companies, records=records, seed=seed + 7919,
        fast_formats=True,
    )  # fmt: skip
    _, reveal_public = pseudonymise.new_reveal_key_pair()
    (root / "reveal.pub.pem").write_bytes(reveal_public)
    _run(["keys", "new-matching-key", "--out", str(root / "matching.key")])
    extracts = []
    workspaces = []
    for item in synthetic.companies:
        workspace = root / f"ws-{item.company_id}"
        package = root / f"pkg-{item.company_id}"
        _run(
            [
                "init", str(workspace), "--company", item.company_id,
                "--matching-key", str(root / "matching.key"),
                "--sample", str(item.export), "--reveal-key", str(root / "reveal.pub.pem"),
            ]
        )  # fmt: skip
        _run(
            [
                "pseudonymise", str(item.export), "--profile", str(workspace / "connector.toml"),
                "--out", str(package), "--as-of", AS_OF.isoformat(),
            ]
        )  # fmt: skip
        workspaces.append(workspace)
        extracts.append(_load(item.company_id, package, item.export, workspace, AS_OF))

    layouts = [
        ("motabo" if i % 3 == 2 else "linbo" if i % 3 == 0 else "") for i in range(companies)
    ]
    later_index = max(i for i, layout in enumerate(layouts) if layout)
    item = synthetic.companies[later_index]
    workspace = workspaces[later_index]
    edited = root / f"later-{item.company_id}.csv"
    _edited_export(
        item.export,
        reference.companies[later_index].export,
        layouts[later_index],
        edited,
        np.random.default_rng(seed),
    )
    later_package = root / f"pkg-{item.company_id}-later"
    _run(
        [
            "pseudonymise", str(edited), "--profile", str(workspace / "connector.toml"),
            "--out", str(later_package), "--as-of", SECOND_AS_OF.isoformat(),
        ]
    )  # fmt: skip
    later = _load(item.company_id, later_package, edited, workspace, SECOND_AS_OF)

    population = pl.concat(
        [
            _normalised(ref_item.export, ws, AS_OF)
            for ref_item, ws in zip(reference.companies, workspaces, strict=True)
        ],
        how="vertical_relaxed",
    )
    return Setting(tuple(extracts), later, later_index, population)
