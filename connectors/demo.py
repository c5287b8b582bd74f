"""`make demo`: the whole story on synthetic data, as the real commands a person would type.

Each step prints the command it runs and then runs it through the same entry point as the
shell would (`connectors.cli.main.main`), so the demo can not drift from the product.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

from connectors import pseudonymise
from connectors.cli.main import main as connector_main

__all__ = ["main"]

AS_OF = "2026-11-01"


def _run(
    console: Console, program: str, entry: Callable[[list[str]], int], argv: list[str]
) -> None:
    console.print(f"\n[bold cyan]$ {program} {shlex.join(argv)}[/]")
    code = entry(argv)
    if code != 0:
        console.print(f"[bold red]demo step failed with exit code {code}[/]")
        raise SystemExit(code)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m connectors.demo", description="Run the Crosscheck demo end to end."
    )
    parser.add_argument("--dir", type=Path, default=Path("demo-output"), help="output folder")
    parser.add_argument("--records", type=int, default=2000, help="rows per company")
    args = parser.parse_args(argv)
    root: Path = args.dir
    console = Console(highlight=False)

    def connector(*words: object) -> None:
        _run(console, "connector", connector_main, [str(w) for w in words])

    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    registers = root / "registers"

    console.print(Rule("1. Two housing companies' register exports (synthetic)"))
    connector(
        "synth", "--out", registers, "--companies", "2", "--records", args.records, "--seed", "7"
    )

    console.print(Rule("2. The key custodian creates the shared matching key"))
    connector("keys", "new-matching-key", "--out", root / "matching.key")

    # Until the matcher is running, the demo stands in for its operator with a fresh reveal key
    # pair; the private half never goes near a connector.
    reveal_private, reveal_public = pseudonymise.new_reveal_key_pair()
    operator = root / "operator"
    operator.mkdir()
    (operator / "reveal.key").write_bytes(reveal_private)
    (operator / "reveal.pub").write_bytes(reveal_public)

    exports = {
        "linbo": registers / "linbo.csv",
        "norrhem": registers / "norrhem.xlsx",
    }
    for company, export in exports.items():
        console.print(Rule(f"3. {company}: workspace, mapping suggested from the export's header"))
        workspace = root / company
        connector(
            "init",
            workspace,
            "--company",
            company,
            "--matching-key",
            root / "matching.key",
            "--sample",
            export,
            "--reveal-key",
            operator / "reveal.pub",
        )
        console.print(Rule(f"4. {company}: validate, pseudonymise, inspect"))
        package = root / f"package-{company}"
        connector(
            "pseudonymise",
            export,
            "--profile",
            workspace / "connector.toml",
            "--out",
            package,
            "--as-of",
            AS_OF,
        )
        connector("inspect", package)

    console.print(Rule("Done"))
    console.print(
        f"Everything is under {root}/: the registers, each company's workspace (profile, keys, "
        "local ref table, reports) and the two packages that would be uploaded."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
