"""CLI habits: -q after the subcommand, --version, the signing-key fingerprint, a missing
package folder called missing, examples in every --help, Ctrl-C ending cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from connectors.cli.main import build_parser, main
from contract import pem_fingerprint

DATA = Path(__file__).parents[1] / "data"


def test_quiet_is_accepted_after_the_subcommand(
    made_package: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, workspace = made_package
    capsys.readouterr()
    code = main(["check", str(DATA / "good_english.csv"), "--profile",
                 str(workspace / "connector.toml"), "--as-of", "2026-11-01", "--quiet",
                 "--report", str(workspace / "r")])  # fmt: skip
    assert code == 0
    assert capsys.readouterr().out == ""


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("connector (crosscheck) ")


def test_keys_fingerprint_is_the_one_the_matcher_shows(
    made_package: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, workspace = made_package
    capsys.readouterr()
    assert main(["keys", "fingerprint", "--profile", str(workspace / "connector.toml")]) == 0
    expected = pem_fingerprint((workspace / "signing.pub").read_bytes())
    assert capsys.readouterr().out.strip() == expected


def test_inspect_of_a_missing_folder_says_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inspect", str(tmp_path / "nope")]) == 2
    assert "missing" in capsys.readouterr().err


def _subcommands() -> list[tuple[str, ...]]:
    import argparse

    found: list[tuple[str, ...]] = []

    def walk(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> None:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs and path:
            found.append(path)
        for action in subs:
            seen = set()
            for name, sub in action.choices.items():
                if id(sub) not in seen:
                    seen.add(id(sub))
                    walk(sub, (*path, name))

    walk(build_parser(), ())
    return found


@pytest.mark.parametrize("words", _subcommands(), ids=" ".join)
def test_every_subcommand_help_has_an_example(
    words: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([*words, "--help"])
    assert (
        "connector " + words[0] in capsys.readouterr().out.split("usage:", 1)[1].split("\n", 1)[1]
    )


@pytest.mark.slow
def test_ctrl_c_mid_pseudonymise_ends_with_130_and_nothing_half_written(
    made_package: tuple[Path, Path], tmp_path: Path
) -> None:
    _, workspace = made_package
    rows = (DATA / "good_english.csv").read_text(encoding="utf-8").splitlines()
    big = tmp_path / "big.csv"
    with big.open("w", encoding="utf-8") as f:
        f.write(rows[0] + "\n")
        for i in range(60_000):
            f.write(rows[2].replace("R00002", f"X{i}", 1) + "\n")
    out = tmp_path / "pkg"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "connectors.cli.main", "-q", "pseudonymise", str(big),
         "--profile", str(workspace / "connector.toml"), "--out", str(out),
         "--as-of", "2026-11-01", "--max-error-rate", "1"],
        stderr=subprocess.PIPE, env=env, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    # Interrupt while the package is being staged: that is "mid-pseudonymise".
    deadline = time.monotonic() + 90
    while not list(tmp_path.glob(".pkg.partial-*")) and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()[-3000:]
    assert b"Traceback" not in err
    assert not out.exists()
    assert not list(tmp_path.glob(".pkg*"))
    assert not list(tmp_path.glob(".crosscheck-tmp-*"))


@pytest.mark.parametrize(
    ("language", "words"), [("sv", "Valideringsrapport"), ("en", "Validation report")]
)
def test_report_html_speaks_the_profiles_language_without_none_or_double_delimiters(
    made_package: tuple[Path, Path], tmp_path: Path, language: str, words: str
) -> None:
    _, workspace = made_package
    profile = tmp_path / "connector.toml"
    text = (workspace / "connector.toml").read_text(encoding="utf-8")
    text = text.replace('language = "sv"', f'language = "{language}"')
    profile.write_text(text, encoding="utf-8")
    semicolon = DATA / "good_english.csv"
    reports = tmp_path / "reports"
    main(["-q", "check", str(semicolon), "--profile", str(profile), "--as-of", "2026-11-01",
          "--report", str(reports)])  # fmt: skip
    (html,) = reports.glob("*.html")
    page = html.read_text(encoding="utf-8")
    assert words in page and f'lang="{language}"' in page
    assert "None" not in page and ";;" not in page
    assert "&#34;,&#34;" in page  # the delimiter, quoted
