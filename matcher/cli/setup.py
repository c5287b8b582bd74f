"""`matcher init`, `matcher db upgrade` and `matcher serve`: set up and run the matcher."""

from __future__ import annotations

import argparse
import errno
import json
import os
import socket
from pathlib import Path
from typing import Any, get_args

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from contract import RevealKem
from matcher.cli._common import (
    Context,
    HelpFormatter,
    add_output_options,
    data_dir_argument,
    open_engine,
    open_settings,
    printable_database_url,
)
from matcher.crypto import reveal_key_fingerprint
from matcher.errors import ConfigError
from matcher.settings import SETTINGS_FILE, Settings, init_data_dir
from matcher.store.database import current_revision, upgrade_database

__all__ = ["register"]

_SUPPORTED_BACKENDS = ("sqlite", "postgresql")

_INIT_EXAMPLES = """\
examples:
  matcher init --data-dir /srv/crosscheck
  matcher init --data-dir /srv/crosscheck \\
      --database-url postgresql+psycopg://crosscheck@db.internal/crosscheck
  matcher init --data-dir /srv/crosscheck --kem MLKEM768-X25519
"""

_UPGRADE_EXAMPLES = """\
examples:
  matcher db upgrade --data-dir /srv/crosscheck
  CROSSCHECK_DATA_DIR=/srv/crosscheck matcher db upgrade
"""

_SERVE_EXAMPLES = """\
examples:
  matcher serve --data-dir /srv/crosscheck
  matcher serve --data-dir /srv/crosscheck --forwarded-allow-ips 127.0.0.1   (behind nginx)
then: curl http://127.0.0.1:8000/readyz ; API docs at http://127.0.0.1:8000/docs
"""


def register(commands: Any, data_dir: Path) -> None:
    init = commands.add_parser(
        "init",
        help="create a data directory: database, blob folder, reveal keys, first admin",
        description=(
            "Create the matcher's data directory: the settings file matcher.toml, the database "
            "(a SQLite file in the directory unless --database-url names PostgreSQL) with its "
            "schema, the blob folder for uploaded extracts, the reveal key pair (the private "
            "key goes to keys/reveal.key with mode 0600, outside the database: back it up "
            "separately) and the first admin user. The admin's token is printed once and "
            "stored nowhere. Refuses a directory that is initialised already."
        ),
        epilog=_INIT_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    data_dir_argument(init, data_dir)
    init.add_argument(
        "--database-url",
        metavar="URL",
        help=(
            "SQLAlchemy URL of the database, e.g. postgresql+psycopg://user@host/db "
            "(default: sqlite:///D/matcher.db)"
        ),
    )
    init.add_argument(
        "--kem",
        choices=get_args(RevealKem),
        default="X25519",
        help=(
            "key encapsulation of the reveal key pair: X25519 (default) or the post-quantum "
            "hybrid MLKEM768-X25519; every company's connector follows this choice"
        ),
    )
    add_output_options(init, json_option=True)
    init.set_defaults(handler=_init)

    db = commands.add_parser(
        "db",
        help="database schema maintenance",
        description="Database schema maintenance (Alembic migrations shipped with the matcher).",
    )
    db_commands = db.add_subparsers(dest="db_command", metavar="DB_COMMAND", required=True)
    upgrade = db_commands.add_parser(
        "upgrade",
        help="bring the database schema to the newest version",
        description=(
            "Run the schema migrations up to the newest one. Do this after installing a new "
            "matcher version, before `matcher serve`; /readyz answers 503 until it is done. "
            "Back up the database first. Running it on a current schema changes nothing."
        ),
        epilog=_UPGRADE_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    data_dir_argument(upgrade, data_dir)
    add_output_options(upgrade, json_option=False)
    upgrade.set_defaults(handler=_db_upgrade)

    serve = commands.add_parser(
        "serve",
        help="run the matcher's web service (API and pages)",
        description=(
            "Run the matcher's HTTP service with uvicorn until interrupted (Ctrl-C). "
            "/healthz and /readyz need no token; everything else needs a bearer token in the "
            "Authorization header (never in the URL, so access logs hold no tokens). "
            "Serve on 127.0.0.1 and put a TLS-terminating reverse proxy in front of it; "
            "tokens must not travel over plain HTTP between machines."
        ),
        epilog=_SERVE_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    data_dir_argument(serve, data_dir)
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
    )
    serve.add_argument(
        "--port", type=int, default=8000, help="TCP port to listen on (default: 8000)"
    )
    serve.add_argument(
        "--log-level",
        choices=("critical", "error", "warning", "info", "debug"),
        default="info",
        help="uvicorn's log level (default: info)",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        metavar="IPS",
        default=None,
        help=(
            "comma-separated addresses or networks of the reverse proxies whose "
            "X-Forwarded-For and X-Forwarded-Proto are believed, e.g. 127.0.0.1 or "
            "10.0.0.0/8 (default: trusted_proxies in matcher.toml, else none). The throttle, "
            "the HSTS header, /metrics and the logs all take the client address from them"
        ),
    )
    serve.add_argument(
        "--log-format",
        choices=("auto", "json", "text"),
        default=None,
        help=(
            "log lines as JSON Lines (one event per line, for a log collector) or as text for a "
            "person; auto (the default, or log_format in matcher.toml): text on a terminal, "
            "JSON otherwise"
        ),
    )
    serve.add_argument(
        "--workers",
        type=_worker_count,
        default=1,
        metavar="N",
        help=(
            "serve from N processes sharing the port (default: 1). Each runs a background "
            "worker; database leases make exactly one of them work the queued runs and one "
            "purge per interval"
        ),
    )
    add_output_options(serve, json_option=False)
    serve.set_defaults(handler=_serve)


def _check_database_url(url: str) -> None:
    # Fail before anything is written: a half-made data directory keeps its new reveal key,
    # and a second init would then refuse to overwrite it.
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        raise ConfigError(
            "--database-url is not a database URL; expected e.g. "
            "postgresql+psycopg://user@host/database or sqlite:///path/matcher.db"
        ) from None
    if backend not in _SUPPORTED_BACKENDS:
        raise ConfigError(
            f"--database-url names the backend {backend!r}; the matcher supports "
            "PostgreSQL (postgresql+psycopg://...) and SQLite (sqlite:///...)"
        )


def _init(args: argparse.Namespace, ctx: Context) -> int:
    settings_file = args.data_dir.resolve() / SETTINGS_FILE
    if settings_file.exists():
        raise ConfigError(
            f"{args.data_dir} is initialised already ({settings_file} exists); init never "
            "overwrites a matcher. Choose another --data-dir for a new matcher, or run "
            "`matcher db upgrade` to bring this one's schema up to date"
        )
    if args.database_url:
        _check_database_url(args.database_url)
    settings, token = init_data_dir(args.data_dir, args.database_url, args.kem)
    fingerprint = reveal_key_fingerprint(settings.reveal_public_key_path.read_bytes())
    if ctx.json:
        ctx.emit_json(
            {
                "data_dir": settings.data_dir,
                "database_url": printable_database_url(settings.database_url),
                "reveal_kem": settings.reveal_kem,
                "reveal_key_fingerprint": fingerprint,
                "reveal_private_key": settings.reveal_private_key_path,
                "admin_user": "admin",
                "admin_token": token,
            }
        )
        return 0
    ctx.say(f"Initialised the matcher data directory {settings.data_dir}")
    ctx.say(f"  database:            {printable_database_url(settings.database_url)}")
    ctx.say(f"  reveal private key:  {settings.reveal_private_key_path} (mode 0600)")
    ctx.say(
        "  Back up the reveal private key separately from database backups, and keep the two "
        "apart: without it no sealed field can ever be revealed."
    )
    ctx.out.print(f"reveal key fingerprint: {fingerprint}", markup=False)
    ctx.say(
        "  Give companies the public key (`matcher keys reveal-public`) and read this "
        "fingerprint to them by phone."
    )
    ctx.out.print(
        "The token of the first admin user 'admin' is shown only now and is stored nowhere; "
        "put it in your password manager:",
        markup=False,
    )
    ctx.out.print(token, markup=False)
    return 0


def _db_upgrade(args: argparse.Namespace, ctx: Context) -> int:
    settings = open_settings(args.data_dir)
    with open_engine(settings) as engine:
        before = current_revision(engine)
    upgrade_database(settings)
    with open_engine(settings) as engine:
        after = current_revision(engine)
    if before == after:
        ctx.say(f"The database schema is current (revision {after}); nothing to do.")
    else:
        ctx.say(f"Upgraded the database schema from revision {before} to {after}.")
    return 0


def _serve(args: argparse.Namespace, ctx: Context) -> int:
    import logging
    import logging.config

    import uvicorn  # imported late: only this command needs the server

    from matcher.actions import startup
    from matcher.api.accesslog import log_config, resolve_format
    from matcher.app import SERVE_SETTINGS_ENV, create_app
    from matcher.store.database import utcnow

    settings = open_settings(args.data_dir)
    if args.forwarded_allow_ips is not None:
        settings = with_trusted_proxies(settings, args.forwarded_allow_ips)
    log_format = resolve_format(args.log_format or settings.log_format)
    # Bind first: a taken port is the operator's to fix, in one sentence, and the matcher that
    # holds it may be running a match that `prepare` would otherwise mark interrupted.
    listener = listening_socket(args.host, args.port)
    try:
        logging.config.dictConfig(log_config(log_format, args.log_level))
        log = logging.getLogger("matcher.serve")

        def announce(message: str, event: str, **fields: object) -> None:
            # JSON logs: everything the process writes is a log line; on a terminal, prose.
            if log_format == "json":
                log.info(event, extra=fields)
            else:
                ctx.say(message)

        with open_engine(settings) as engine:
            recovered = startup.prepare(settings, engine, utcnow())
        for run_id in recovered.failed_runs:
            announce(
                f"Run {run_id} was interrupted by a stop of the matcher; marked failed.",
                "run.interrupted",
                run=run_id,
            )
        # Several processes: each builds the app itself (uvicorn spawns them) from the settings
        # this command resolved, passed on in the environment, which only the service account
        # can read (/proc/PID/environ is 0400), as it can read matcher.toml. Keys stay in files.
        if args.workers > 1:
            os.environ[SERVE_SETTINGS_ENV] = json.dumps(
                {
                    "settings": settings.model_dump(mode="json"),
                    "log_format": log_format,
                    "log_level": args.log_level,
                }
            )
        config = uvicorn.Config(
            create_app(settings) if args.workers == 1 else "matcher.app:app_from_environment",
            factory=args.workers > 1,
            workers=args.workers,
            log_level=args.log_level,
            log_config=None,  # configured above, before the first line
            # The request log (matcher.api.requestlog) replaces uvicorn's access lines.
            access_log=False,
            # The app alone decides whom to believe (matcher.api.forwarded, trusted_proxies):
            # uvicorn's own proxy handling trusts 127.0.0.1 by default and would rewrite the
            # client address and scheme before the throttle and the HSTS rule see them.
            proxy_headers=False,
            # Do not tell every scanner which server and version answers.
            server_header=False,
        )
        announce(
            f"Serving the matcher for {settings.data_dir} on http://{args.host}:{args.port} "
            "(API docs at /docs; Ctrl-C stops)",
            "serving",
            address=f"http://{args.host}:{args.port}",
        )
        if args.workers == 1:
            uvicorn.Server(config).run(sockets=[listener])
        else:
            from uvicorn.supervisors import Multiprocess

            Multiprocess(config, sockets=[listener]).run()
    finally:
        listener.close()
    return 0


def _worker_count(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        count = 0
    if not 1 <= count <= 64:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to 64, got {value!r}")
    return count


def with_trusted_proxies(settings: Settings, value: str) -> Settings:
    """``settings`` with ``trusted_proxies`` from ``--forwarded-allow-ips`` (validated)."""
    proxies = tuple(p.strip() for p in value.split(",") if p.strip())
    if "*" in proxies:
        raise ConfigError(
            "--forwarded-allow-ips '*' would let any client choose its own address (and dodge "
            "the throttle); name the reverse proxies' addresses, e.g. 127.0.0.1 or 10.0.0.0/8"
        )
    try:
        return Settings.model_validate({**settings.model_dump(), "trusted_proxies": proxies})
    except ValueError as exc:
        detail = str(exc).split("Value error, ", 1)[-1].splitlines()[0]
        raise ConfigError(f"--forwarded-allow-ips: {detail}") from None


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` for uvicorn, or a :class:`ConfigError` saying why not.

    uvicorn binds by itself only after startup and answers a taken port with a raw errno line
    and exit 3; binding here lets ``main`` print one sentence and exit 2 like any setup problem.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    # As uvicorn does: a restart may reuse the port while old connections are in TIME_WAIT.
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        raise ConfigError(_bind_message(host, port, exc)) from None
    except OverflowError:
        listener.close()
        raise ConfigError(f"--port {port} is not a TCP port; choose one from 1 to 65535") from None
    listener.set_inheritable(True)
    return listener


def _bind_message(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is already in use by another program (perhaps another "
            f"matcher); stop that program or choose another port with --port, e.g. --port "
            f"{port + 1 if port < 65535 else 8000}"
        )
    if exc.errno == errno.EACCES:
        return (
            f"this account may not listen on port {port} (ports below 1024 need privileges); "
            "choose a port from 1024 up with --port and put the reverse proxy on 443"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return (
            f"{host} is not an address of this machine; choose one of its addresses with --host "
            "(127.0.0.1 behind a reverse proxy)"
        )
    return (
        f"can not listen on {host}:{port} ({exc.strerror}); check --host and --port "
        "(e.g. --host 127.0.0.1 --port 8000)"
    )
