"""`connector ui`: start the local web app on 127.0.0.1 and open its one-time link."""

from __future__ import annotations

import argparse
import importlib
import webbrowser
from pathlib import Path
from typing import Any

from connectors.cli._common import Context, open_profile
from connectors.errors import ConnectorError, ProfileError
from connectors.workspace import PROFILE_FILE

__all__ = ["register"]

_EXAMPLES = """\
examples:
  connector ui --profile ws/connector.toml
  connector ui --profile ws/connector.toml --port 8765 --no-browser   (open the printed link)
  connector ui --new-workspace ws      (no workspace yet: the first page asks what init asks)

The link works once: it is exchanged for a session cookie of this browser. To open the ui in
another browser, stop it (Ctrl-C) and start it again. The ui listens on 127.0.0.1 only.
"""


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "ui",
        help="the same round in a local web app (127.0.0.1 only, Swedish and English)",
        description=(
            "Start a local web app for the data officer's round: choose the export, check the "
            "suggested mapping (saved in the workspace's connector.toml), check the export, "
            "pseudonymise, see what leaves the company, upload. It runs the same code as "
            "init, check, pseudonymise, inspect and upload. Needs the connector-ui extra."
        ),
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--profile",
        type=Path,
        metavar="DIR/connector.toml",
        help="the workspace's profile, written by `connector init`",
    )
    where.add_argument(
        "--new-workspace",
        type=Path,
        metavar="DIR",
        help="a workspace folder to create in the ui (asks what `connector init` asks)",
    )
    parser.add_argument(
        "--port", type=int, default=0, metavar="N", help="port on 127.0.0.1 (default: a free one)"
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="only 127.0.0.1 is accepted; any other address is refused",
    )
    parser.add_argument(
        "--no-browser", action="store_true", help="print the link, do not open a browser"
    )
    parser.set_defaults(handler=_ui)


# What the connector-ui extra installs.
UI_PACKAGES = ("starlette", "uvicorn", "jinja2")


def _missing_packages() -> list[str]:
    missing = []
    for name in UI_PACKAGES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def _ui(args: argparse.Namespace, ctx: Context) -> int:
    missing = _missing_packages()
    if missing:
        raise ConnectorError(
            f"connector ui needs the connector-ui extra ({', '.join(missing)} not installed): "
            "install it with pip install 'crosscheck[connector-ui]'; every other connector "
            "command works without it"
        )
    from connectors.ui import UiSettings, prepare  # only now: it imports the web stack

    if args.new_workspace is not None:
        folder: Path = args.new_workspace
        if (folder / PROFILE_FILE).exists():
            raise ProfileError(
                f"{folder} already holds a workspace; start the ui with --profile "
                f"{folder / PROFILE_FILE}"
            )
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise ProfileError(f"{folder} is not an empty folder; give a new one")
        settings = UiSettings(profile=folder.resolve() / PROFILE_FILE, create=True)
        who = f"the new workspace {folder}"
    else:
        profile = open_profile(args.profile)
        settings = UiSettings(profile=profile.path)
        who = f"company {profile.company_id}"
    running = prepare(settings, args.host, args.port)
    url = running.start_url
    ctx.out.print(
        f"connector ui for {who} is running.\n"
        f"Open this link (it works once, in one browser):\n  {url}\n"
        "Stop it with Ctrl-C.",
        markup=False,
    )
    if not args.no_browser:
        webbrowser.open(url)
    running.run()
    return 0
