"""`make demo`: the whole story on synthetic data, as the real commands people would type.

Each step prints the command it runs and then runs it through the same entry point as the
shell would (`connector` and `matcher`), so the demo can not drift from the product. The
matcher runs as a real `matcher serve` process on a free loopback port; connectors upload to
it over HTTP.
"""

from __future__ import annotations

import argparse
import io
import json
import shlex
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.rule import Rule
from rich.table import Table

from connectors.cli.main import main as connector_main
from demo.server import serving
from matcher.actions.runs import SHIPPED_POLICY
from matcher.cli.main import main as matcher_main
from matcher.settings import load_settings
from synthetic.cli import main as synth_main

__all__ = ["all_hits", "main"]

AS_OF = "2026-11-01"
COMPANIES = {"linbo": "Linbo Bostäder", "norrhem": "Norrhem", "motabo": "Motabo"}


class Narrator:
    def __init__(self, console: Console) -> None:
        self.console = console

    def run(self, program: str, entry: Callable[[list[str]], int], *words: object) -> None:
        argv = [str(w) for w in words]
        self.console.print(f"\n[bold cyan]$ {program} {shlex.join(argv)}[/]")
        code = entry(argv)
        if code != 0:
            self.console.print(f"[bold red]demo step failed with exit code {code}[/]")
            raise SystemExit(code)

    def run_json(self, program: str, entry: Callable[[list[str]], int], *words: object) -> Any:
        """Run a command with --json and return what it printed, showing the command only."""
        argv = [str(w) for w in words]
        self.console.print(f"\n[bold cyan]$ {program} {shlex.join(argv)}[/]")
        out = io.StringIO()
        with redirect_stdout(out):
            code = entry(argv)
        if code != 0:
            self.console.print(out.getvalue())
            raise SystemExit(code)
        return json.loads(out.getvalue())

    def connector(self, *words: object) -> None:
        self.run("connector", connector_main, *words)

    def matcher(self, *words: object) -> None:
        self.run("matcher", matcher_main, *words)

    def synth(self, *words: object) -> None:
        self.run("crosscheck-synth", synth_main, *words)


def _secret(path: Path, text: str) -> None:
    path.touch(mode=0o600)
    path.write_text(text + "\n", encoding="utf-8")


def _hits_table(company: str, hits: list[dict[str, Any]]) -> Table:
    table = Table(title=f"{COMPANIES[company]}: review queue ({len(hits)} hits)")
    for column in ("hit", "rule", "band", "own ref", "counterpart", "overlap", "days"):
        table.add_column(column)
    for hit in hits[:8]:
        table.add_row(
            str(hit["id"]),
            hit["rule"],
            hit["band"],
            hit["own_ref"][:12] + "…",
            hit["counterpart_company"],
            f"{hit['overlap_start']} – {hit['overlap_end']}",
            str(hit["overlap_days"]),
        )
    if len(hits) > 8:
        table.caption = f"… and {len(hits) - 8} more"
    return table


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demo", description="Run the Crosscheck demo end to end."
    )
    parser.add_argument("--dir", type=Path, default=Path("demo-output"), help="output folder")
    parser.add_argument("--records", type=int, default=2000, help="rows per company")
    args = parser.parse_args(argv)
    root: Path = args.dir.resolve()
    # Wide enough for the tables when the output is not a terminal (e.g. under make or CI).
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 110)
    say = Narrator(console)

    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    registers = root / "registers"
    data_dir = root / "matcher-data"

    console.print(Rule("1. Three housing companies' register exports (synthetic)"))
    say.synth(
        "--out", registers, "--companies", len(COMPANIES), "--records", args.records,
        "--seed", "7",
    )  # fmt: skip
    exports = {"linbo": "linbo.csv", "norrhem": "norrhem.xlsx", "motabo": "motabo.csv"}

    console.print(Rule("2. The matcher's operator sets up the central service"))
    init = say.run_json("matcher", matcher_main, "init", "--data-dir", data_dir, "--json")
    admin_token = init["admin_token"]
    console.print(f"first admin token: {admin_token[:6]}… (shown once, stored only as a hash)")
    operator = root / "operator"
    operator.mkdir()
    say.matcher("keys", "reveal-public", "--data-dir", data_dir, "--out", operator / "reveal.pub")

    console.print(Rule("3. The key custodian creates the shared matching key"))
    say.connector("keys", "new-matching-key", "--out", root / "matching.key")

    with serving(data_dir, root / "matcher-serve.log") as url:
        console.print(f"\n[green]matcher serve is running at {url}[/]")
        investigators: dict[str, str] = {}
        approvers: dict[str, str] = {}
        for company, name in COMPANIES.items():
            export = registers / exports[company]
            workspace = root / company
            console.print(Rule(f"4. {name}: workspace, mapping suggested from the header"))
            say.connector(
                "init", workspace, "--company", company, "--matching-key", root / "matching.key",
                "--sample", export, "--reveal-key", operator / "reveal.pub", "--matcher-url", url,
            )  # fmt: skip
            console.print(Rule(f"5. The operator registers {name} and its people"))
            say.matcher(
                "companies", "add", company, "--name", name, "--signing-key",
                workspace / "signing.pub", "--data-dir", data_dir,
            )  # fmt: skip
            officer = say.run_json(
                "matcher", matcher_main, "users", "add", f"{company}-data", "--role",
                "data_officer", "--company", company, "--data-dir", data_dir, "--json",
            )  # fmt: skip
            investigator = say.run_json(
                "matcher", matcher_main, "users", "add", f"{company}-investigator", "--role",
                "investigator", "--company", company, "--data-dir", data_dir, "--json",
            )  # fmt: skip
            investigators[company] = investigator["token"]
            # Four-eyes: the policy has an approver at the *other* company of a hit decide.
            approver = say.run_json(
                "matcher", matcher_main, "users", "add", f"{company}-approver", "--role",
                "approver", "--company", company, "--data-dir", data_dir, "--json",
            )  # fmt: skip
            approvers[company] = approver["token"]
            # The data officer keeps the token in a file the profile names (mode 0600).
            _secret(workspace / "token", officer["token"])
            profile = workspace / "connector.toml"
            profile.write_text(
                profile.read_text(encoding="utf-8").replace(
                    '# token_file = "token"', 'token_file = "token"'
                ),
                encoding="utf-8",
            )
            console.print(Rule(f"6. {name}: validate, pseudonymise, inspect, upload"))
            package = root / f"package-{company}"
            say.connector(
                "pseudonymise", export, "--profile", profile, "--out", package, "--as-of", AS_OF
            )
            if company == "linbo":
                say.connector("inspect", package)
            say.connector("upload", package, "--profile", profile)

        console.print(Rule("7. The operator activates the policy and runs matching"))
        here = Path.cwd()
        policy = (
            SHIPPED_POLICY.relative_to(here)
            if SHIPPED_POLICY.is_relative_to(here)
            else SHIPPED_POLICY
        )
        say.matcher("policies", "activate", policy, "--data-dir", data_dir)
        say.matcher("run", "--data-dir", data_dir, "--run-date", AS_OF)

        console.print(Rule("8. Each company's investigators see their own side of each hit"))
        queues: dict[str, list[dict[str, Any]]] = {}
        for company, token in investigators.items():
            console.print(f"\n[bold cyan]$ GET {url}/v1/hits  (as {company}-investigator)[/]")
            with httpx.Client(base_url=url) as client:
                hits = list(all_hits(client, token))
            queues[company] = hits
            console.print(_hits_table(company, hits))
            if company == "linbo" and hits:
                console.print(Rule("9. linbo's data officer finds the own record behind a hit"))
                say.connector(
                    "resolve", hits[0]["own_ref"], "--profile", root / company / "connector.toml"
                )
        if queues.get("linbo"):
            _reveal_story(console, url, queues["linbo"][0], investigators, approvers)
        else:
            console.print("[yellow]linbo has no hits, so there is nothing to reveal[/]")

        auditing = root / "auditor"
        auditing.mkdir()
        # The operator hands over the log's public key once, over a channel the auditor and the
        # companies trust; from then on they need nothing of the matcher's to check the log.
        log_key, log_name = auditing / "crosscheck-log.pub", load_settings(data_dir).log_origin
        say.matcher("audit", "public-key", "--data-dir", data_dir, "--out", log_key)
        console.print(Rule("14. Each company's witness cosigns the access log"))
        witnesses = []
        for company in COMPANIES:
            folder, name = root / company / "witness", f"witness.{company}.example/w1"
            say.connector(
                "witness", "init", folder, "--name", name, "--log-name", log_name,
                "--log-key", log_key, "--matcher-url", url,
                "--token-file", root / company / "token",
            )  # fmt: skip
            say.matcher(
                "companies", "add-witness", company, "--name", name,
                "--witness-key", folder / "witness.pub", "--data-dir", data_dir,
            )  # fmt: skip
            witnesses.append(f"--witness={name}={folder / 'witness.pub'}")
        for company in COMPANIES:  # what cron runs at each company
            say.connector("witness", "run", root / company / "witness")

        console.print(Rule("15. An auditor checks the log offline, witnessed by the companies"))
        auditor = say.run_json(
            "matcher", matcher_main, "users", "add", "audit-office", "--role", "auditor",
            "--data-dir", data_dir, "--json",
        )  # fmt: skip
        console.print(f"\n[bold cyan]$ GET {url}/v1/witness/cosigned  (as audit-office)[/]")
        with _client(url, auditor["token"]) as client:
            cosigned = client.get("/v1/witness/cosigned").raise_for_status().text
        console.print(cosigned.rstrip())
        (auditing / "cosigned.txt").write_text(cosigned, encoding="utf-8")
        say.matcher(
            "audit", "export", "--data-dir", data_dir, "--out", auditing / "audit.jsonl", "--quiet"
        )
        say.matcher(
            "audit", "verify", auditing / "audit.jsonl", "--public-key", log_key,
            "--cosigned", auditing / "cosigned.txt", "--min-witnesses", "2", *witnesses,
        )  # fmt: skip

    console.print(Rule("Done"))
    console.print(
        f"Everything is under {root}/: the registers, each company's workspace (profile, keys, "
        "local ref table, reports, witness), the packages, the matcher's data directory, and "
        "the auditor's export of the log with the public key and the cosigned checkpoint it "
        "was verified with."
    )
    return 0


def _client(url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"})


def _call(
    console: Console, client: httpx.Client, who: str, method: str, path: str, body: Any = None
) -> Any:
    """Show the HTTP call as a command line would, make it, and return the JSON answer."""
    console.print(f"\n[bold cyan]$ {method} {path}  (as {who})[/]")
    if body is not None:
        console.print_json(data=body)
    response = client.request(method, path, json=body)
    if response.is_error:
        console.print(f"[bold red]{response.status_code}: {response.text}[/]")
        raise SystemExit(1)
    return response.json()


def _reveal_story(
    console: Console,
    url: str,
    hit: dict[str, Any],
    investigators: dict[str, str],
    approvers: dict[str, str],
) -> None:
    """Steps 10-13: four-eyes reveal of one of linbo's hits, disclosure, outcome."""
    requester, counterpart = "linbo", hit["counterpart_company"]
    console.print(Rule(f"10. linbo's investigator asks to see hit {hit['id']}"))
    with _client(url, investigators[requester]) as investigator:
        request = _call(
            console, investigator, f"{requester}-investigator", "POST",
            f"/v1/hits/{hit['id']}/reveal-requests",
            {
                "purpose": "Check a possible second first-hand contract",
                "case_reference": "LIN-2026-0042",
                "justification": (
                    "The tenant's contract overlaps another company's first-hand contract by "
                    f"{hit['overlap_days']} days; we need both addresses and contract dates to "
                    "ask the tenant."
                ),
            },
        )  # fmt: skip
        console.print(
            f"request {request['id']}: {request['status']}; fields the policy reveals: "
            + ", ".join(request["fields"])
        )
        console.print(
            Rule(f"11. An approver at {COMPANIES[counterpart]} (the counterpart) decides")
        )
        with _client(url, approvers[counterpart]) as approver:
            pending = _call(
                console, approver, f"{counterpart}-approver", "GET",
                "/v1/reveal-requests?status=pending",
            )  # fmt: skip
            console.print(f"{len(pending['items'])} request(s) waiting for {counterpart}")
            decided = _call(
                console, approver, f"{counterpart}-approver", "POST",
                f"/v1/reveal-requests/{request['id']}/approve",
                {"reason": "Purpose and case match the policy; the overlap is long."},
            )  # fmt: skip
        console.print(
            f"request {decided['id']}: {decided['status']}, readable until "
            f"{decided['disclosure_until']}"
        )
        console.print(Rule("12. linbo's investigator reads the disclosure"))
        disclosure = _call(
            console, investigator, f"{requester}-investigator", "GET",
            f"/v1/reveal-requests/{request['id']}/disclosure",
        )  # fmt: skip
        console.print(_disclosure_table(disclosure))
        console.print(f"[italic]{disclosure['notice']}[/]")
        console.print(Rule("13. The investigation ends; linbo records the outcome"))
        outcome = _call(
            console, investigator, f"{requester}-investigator", "POST",
            f"/v1/hits/{hit['id']}/outcome",
            {
                "outcome": "no_issue_explained",
                "reason": "notice_period_move",
                "note": "Moved out during the notice period; the old contract ends next month.",
            },
        )  # fmt: skip
        console.print(
            f"hit {outcome['hit_id']}: {outcome['outcome']} ({outcome['reason']}) "
            f"recorded at {outcome['recorded_at']}"
        )


def _disclosure_table(disclosure: dict[str, Any]) -> Table:
    records = disclosure["records"]
    table = Table(title=f"Hit {disclosure['hit_id']}: the policy's fields, side by side")
    table.add_column("field")
    for record in records:
        side = "own" if record["own"] else "counterpart"
        table.add_column(f"{COMPANIES.get(record['company'], record['company'])} ({side})")
    for field in disclosure["fields"]:
        table.add_row(field, *[record["values"].get(field) or "" for record in records])
    table.caption = f"readable until {disclosure['valid_until']}"
    return table


def all_hits(client: httpx.Client, token: str) -> Iterator[dict[str, Any]]:
    """Every hit the token's holder may see, following the cursor (also used by the tests)."""
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        headers = {"Authorization": f"Bearer {token}"}
        page = client.get("/v1/hits", params=params, headers=headers).raise_for_status().json()
        yield from page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return


if __name__ == "__main__":
    sys.exit(main())
