"""The matcher's settings and its data directory.

A data directory holds ``matcher.toml`` (written by :func:`init_data_dir`: database URL and
reveal KEM, the audit log's origin name), the SQLite database by default, ``blobs/`` and ``keys/``
(the reveal private key and the audit log signing key, mode 0600: outside the database, so a
database backup never holds them). ``matcher serve`` needs
only ``--data-dir``: everything else is read once from ``matcher.toml`` by :func:`load_settings`
and passed down.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import re
import secrets
import socket
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contract import RevealKem
from matcher.core.audit import Outcome
from matcher.core.vocabulary import AuditAction
from matcher.crypto import generate_log_key, generate_reveal_key_pair, write_private_key_file
from matcher.errors import ConfigError
from matcher.store import audit
from matcher.store.blobs import BlobStore
from matcher.store.database import create_database_engine, upgrade_engine, utcnow
from matcher.store.extract_size import ExtractLimits
from matcher.store.users import add_user

__all__ = [
    "DEFAULT_MAX_UPLOAD_BYTES",
    "SETTINGS_FILE",
    "OpenIdIssuer",
    "Settings",
    "default_log_origin",
    "ensure_session_secret",
    "init_data_dir",
    "load_settings",
]

SETTINGS_FILE = "matcher.toml"
DEFAULT_MAX_UPLOAD_BYTES = 4 * 1024**3
# A large Swedish housing company has some 50,000 tenancies; 100 times that is generous.
DEFAULT_MAX_EXTRACT_ROWS = 5_000_000
# Decoded (Arrow) bytes of all columns: a contract-v2 row of the connector is about 1.75 kB
# decoded (measured 2026-12-03), so 5 million genuine rows fit in 10 GiB.
DEFAULT_MAX_EXTRACT_BYTES = 10 * 1024**3
# Tokens, filters and ciphertexts are random bytes: a connector package decodes to 1.1 times
# its file size (measured). 20 leaves room for other writers; a bomb is hundreds or thousands.
DEFAULT_MAX_EXTRACT_COMPRESSION_RATIO = 20.0


def default_log_origin(hostname: str | None = None) -> str:
    """``crosscheck.<host>/audit``: the audit log's name in its checkpoints and the key name
    auditors pin. ``matcher init`` writes it into matcher.toml so a renamed host keeps it."""
    host = re.sub(r"[^a-z0-9.-]+", "-", (hostname or socket.gethostname()).lower()).strip("-.")
    return f"crosscheck.{host or 'localhost'}/audit"


_SIGN_IN_ROLES = (
    "data_officer",
    "investigator",
    "approver",
    "company_admin",
    "auditor",
    "admin",
)


class OpenIdIssuer(BaseModel):
    """One OpenID Connect provider the web pages offer for sign-in (``[[openid_issuers]]`` in
    matcher.toml): where it is, this service's client there, and how its claims map to a
    company and a role. A person whose claims map to no company or no role is refused.

    The company is ``company`` (an issuer per company) or the value of ``company_claim`` looked
    up in ``company_map`` (one broker for all). The role is the first value of ``role_claim``
    (a string or a list, e.g. Entra ID's ``groups`` or ``roles``) found in ``role_map``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Short, in URLs and the audit log: letters, digits, '-'.
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")
    label: str = Field(min_length=1, max_length=80)  # the sign-in button's text
    issuer: str = Field(pattern=r"^https?://")
    # Where the provider's metadata is; by default <issuer>/.well-known/openid-configuration.
    metadata_url: str = ""
    client_id: str = Field(min_length=1)
    # A file holding the client secret (mode 0600), never the secret itself in matcher.toml;
    # a relative path is in the data directory.
    client_secret_file: Path
    scopes: tuple[str, ...] = ("openid", "profile", "email")
    company: str | None = None
    company_claim: str | None = None
    company_map: dict[str, str] = Field(default_factory=dict)
    role_claim: str = "groups"
    role_map: dict[str, str] = Field(default_factory=dict)
    # The claim shown as the person's name on the pages (and the user's name here).
    name_claim: str = "preferred_username"
    # A second factor: the ID token's acr must be one of these, or its amr hold one of these.
    require_acr: tuple[str, ...] = ()
    require_amr: tuple[str, ...] = ()
    # Clock difference allowed between the provider and this service.
    leeway_seconds: int = Field(default=60, ge=0, le=600)
    # A signed-in person is checked with the provider this often (a refresh-token grant): a
    # person removed or disabled there is signed out here at the next page after. 0: never.
    recheck_seconds: float = Field(default=300, ge=0)

    @model_validator(mode="after")
    def _mapping(self) -> OpenIdIssuer:
        if (self.company is None) == (self.company_claim is None):
            raise ValueError(
                f"openid issuer {self.name}: give either company (one company's provider) or "
                "company_claim with company_map (a broker for several)"
            )
        if self.company_claim is not None and not self.company_map:
            raise ValueError(f"openid issuer {self.name}: company_claim needs a company_map")
        if not self.role_map:
            raise ValueError(
                f"openid issuer {self.name}: role_map is empty; map the provider's groups or "
                'roles to ours, e.g. role_map = { "crosscheck-investigators" = "investigator" }'
            )
        for value, role in self.role_map.items():
            if role not in _SIGN_IN_ROLES:
                raise ValueError(
                    f"openid issuer {self.name}: role_map[{value!r}] = {role!r} is not a role; "
                    f"expected one of {', '.join(_SIGN_IN_ROLES)}"
                )
        if "openid" not in self.scopes:
            raise ValueError(f"openid issuer {self.name}: scopes must include openid")
        return self

    @property
    def metadata(self) -> str:
        return self.metadata_url or self.issuer.rstrip("/") + "/.well-known/openid-configuration"

    def client_secret(self) -> str:
        try:
            return self.client_secret_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"openid issuer {self.name}: the client secret file {self.client_secret_file} "
                "is missing or unreadable"
            ) from exc


class Settings(BaseModel):
    """Everything the app and the CLI need; paths default to places inside ``data_dir``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_dir: Path
    database_url: str = ""
    max_upload_bytes: int = Field(default=DEFAULT_MAX_UPLOAD_BYTES, gt=0)
    # Bounds on what an extract really holds (rows, decoded bytes, decoded/file size),
    # checked at upload and again when `matcher run` reads it.
    max_extract_rows: int = Field(default=DEFAULT_MAX_EXTRACT_ROWS, gt=0)
    max_extract_bytes: int = Field(default=DEFAULT_MAX_EXTRACT_BYTES, gt=0)
    max_extract_compression_ratio: float = Field(
        default=DEFAULT_MAX_EXTRACT_COMPRESSION_RATIO, gt=1
    )
    # Per-company exceptions: company id -> its own max_extract_rows / max_extract_bytes.
    company_max_extract_rows: dict[str, int] = Field(default_factory=dict)
    company_max_extract_bytes: dict[str, int] = Field(default_factory=dict)
    # An as-of date later than today (UTC) plus this many days is refused: a future date
    # would make every later genuine package look older.
    as_of_tolerance_days: int = Field(default=1, ge=0, le=31)
    blob_dir: Path = Path()
    reveal_kem: RevealKem = "X25519"
    reveal_private_key_path: Path = Path()
    reveal_public_key_path: Path = Path()
    # A policy file every run activates first (like `matcher run --policy`); None: runs use
    # the policy activated with `matcher policies activate`.
    policy_path: Path | None = None
    log_private_key_path: Path = Path()
    # The checkpoint origin and signing key name: one line, no spaces and no '+' (C2SP).
    log_origin: str = Field(default="", pattern=r"^[^\s+]*$")
    # Signs the web pages' session cookies; made by `matcher init` or at the first start.
    session_secret_path: Path = Path()
    # `matcher serve` applies the policies' retention this often; 0 turns the timer off
    # (then run `matcher purge` from cron).
    purge_interval_seconds: float = Field(default=3600, ge=0)
    # `matcher serve` works queued runs itself (one at a time, in the process that holds the
    # "runs" lease); False leaves them to `matcher worker`.
    run_worker: bool = True
    # How often an idle worker looks for queued runs and a due purge.
    worker_poll_seconds: float = Field(default=5, gt=0)
    # A worker renews its "runs" lease every third of this; a worker that stops renewing it
    # (killed, frozen) is taken over this long after its last renewal, and its run is marked
    # failed as interrupted.
    run_lease_seconds: float = Field(default=60, gt=0)
    # Failed authentications (bad bearer tokens, failed web sign-ins), counted per source
    # address and per token prefix: from half the limit on each failure is answered
    # auth_failure_delay_seconds later; the limit within the window locks the key out.
    auth_failure_limit: int = Field(default=10, ge=1)
    auth_failure_window_seconds: float = Field(default=60, gt=0)
    auth_lockout_seconds: float = Field(default=900, ge=0)
    auth_failure_delay_seconds: float = Field(default=0.5, ge=0, le=10)
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or
    # networks, e.g. ["127.0.0.1", "10.0.0.0/8"]); from anyone else the headers are ignored.
    trusted_proxies: tuple[str, ...] = ()
    # The witnesses of the companies all get the checkpoint signed within this period, so
    # they cosign the same one (matcher.actions.witness.checkpoint_for).
    witness_checkpoint_seconds: float = Field(default=300, gt=0)
    # Web sessions: idle for this long, or this old, and they are over.
    session_idle_seconds: float = Field(default=8 * 3600, gt=0)
    session_absolute_seconds: float = Field(default=12 * 3600, gt=0)
    # `matcher serve`'s log lines: "json" (JSON Lines), "text" (for a person), or "auto": text
    # when standard error is a terminal, JSON otherwise. `serve --log-format` overrides it.
    log_format: Literal["auto", "json", "text"] = "auto"
    # Clients in these networks may read /metrics without a token (others need an admin's or
    # auditor's token). Behind a reverse proxy, list the proxy in trusted_proxies.
    metrics_networks: tuple[str, ...] = ("127.0.0.1/32", "::1/128")
    # OpenID Connect providers the sign-in page offers (each a [[openid_issuers]] table).
    openid_issuers: tuple[OpenIdIssuer, ...] = ()
    # Whether the sign-in page also takes a personal API token. None: yes until an issuer is
    # configured, then no. Machine tokens on the API are not affected.
    token_sign_in: bool | None = None
    # This service's address as browsers see it (e.g. "https://crosscheck.example.se"): the
    # providers redirect back to <public_url>/web/sign-in/<issuer>/callback. Empty: the
    # address of the request (behind a proxy, list it in trusted_proxies).
    public_url: str = Field(default="", pattern=r"^(https?://[^/]+)?$")

    @model_validator(mode="after")
    def _defaults(self) -> Settings:
        for key, networks in (
            ("trusted_proxies", self.trusted_proxies),
            ("metrics_networks", self.metrics_networks),
        ):
            for network in networks:
                try:
                    ipaddress.ip_network(network, strict=False)
                except ValueError as exc:
                    raise ValueError(
                        f"{key}: {network!r} is not an address or network; expected e.g. "
                        '"127.0.0.1" or "10.0.0.0/8"'
                    ) from exc
        # Frozen model: fill derived defaults through object.__setattr__ once, at creation.
        data_dir = self.data_dir
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{data_dir / 'matcher.db'}")
        if self.blob_dir == Path():
            object.__setattr__(self, "blob_dir", data_dir / "blobs")
        if self.reveal_private_key_path == Path():
            object.__setattr__(self, "reveal_private_key_path", data_dir / "keys" / "reveal.key")
        if self.reveal_public_key_path == Path():
            object.__setattr__(self, "reveal_public_key_path", data_dir / "keys" / "reveal.pub")
        if self.log_private_key_path == Path():
            object.__setattr__(self, "log_private_key_path", data_dir / "keys" / "log.key")
        if self.session_secret_path == Path():
            object.__setattr__(self, "session_secret_path", data_dir / "keys" / "session.key")
        if not self.log_origin:
            object.__setattr__(self, "log_origin", default_log_origin())
        # A client secret file named relative to the data directory is found there.
        issuers = tuple(
            issuer
            if issuer.client_secret_file.is_absolute()
            else issuer.model_copy(
                update={"client_secret_file": data_dir / issuer.client_secret_file}
            )
            for issuer in self.openid_issuers
        )
        object.__setattr__(self, "openid_issuers", issuers)
        names = [issuer.name for issuer in self.openid_issuers]
        if len(set(names)) != len(names):
            raise ValueError(f"openid_issuers: each name once; got {names}")
        return self

    @property
    def token_sign_in_allowed(self) -> bool:
        """Whether the sign-in page takes personal tokens (see ``token_sign_in``)."""
        if self.token_sign_in is None:
            return not self.openid_issuers
        return self.token_sign_in

    def openid_issuer(self, name: str) -> OpenIdIssuer | None:
        return next((i for i in self.openid_issuers if i.name == name), None)

    def log_private_key(self) -> bytes:
        """The audit log's signing key (PEM), read from its file: the store is handed the key,
        it never opens key files itself."""
        try:
            return self.log_private_key_path.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"the audit log key {self.log_private_key_path} is missing or unreadable; "
                "`matcher init` creates it (mode 0600). Without it no checkpoint can be signed"
            ) from exc

    def extract_limits(self, company_id: str) -> ExtractLimits:
        """The bounds on ``company_id``'s extracts (its exception if it has one)."""
        return ExtractLimits(
            max_rows=self.company_max_extract_rows.get(company_id, self.max_extract_rows),
            max_bytes=self.company_max_extract_bytes.get(company_id, self.max_extract_bytes),
            max_ratio=self.max_extract_compression_ratio,
        )


def _toml_string(value: str) -> str:
    # JSON string escapes are valid TOML basic-string escapes for everything we write.
    return json.dumps(value, ensure_ascii=False)


def ensure_session_secret(path: Path) -> bytes:
    """The web session signing secret, created (256 random bits, mode 0600) when missing.

    Data directories made before the web pages existed get one at their next start; replacing
    the file signs everyone out, which is also how an operator ends all sessions at once.
    """
    if not path.exists():
        # ConfigError: another worker made it a moment ago; use theirs.
        with contextlib.suppress(ConfigError):
            write_private_key_file(path, secrets.token_hex(32).encode("ascii"))
    try:
        secret = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"the web session secret {path} is not readable: {exc}") from exc
    if len(secret) < 32:
        raise ConfigError(
            f"the web session secret {path} is too short; delete it to make a new one"
        )
    return secret


def load_settings(data_dir: Path) -> Settings:
    """Read ``<data_dir>/matcher.toml`` (written by ``matcher init``)."""
    path = data_dir / SETTINGS_FILE
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(
            f"{path} does not exist; create the data directory with `matcher init --data-dir "
            f"{data_dir}`"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    known = set(Settings.model_fields) - {"data_dir"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown keys {unknown}; expected some of {sorted(known)}")
    try:
        return Settings(data_dir=data_dir, **raw)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def init_data_dir(
    data_dir: Path, database_url: str | None, kem: RevealKem = "X25519"
) -> tuple[Settings, str]:
    """``matcher init``: settings file, database schema, blob folder, reveal keys, audit log key,
    first admin.

    Returns the settings and the first admin's token, which is shown once and stored nowhere.
    Refuses a data directory that has a settings file already.
    """
    data_dir = data_dir.resolve()
    settings_path = data_dir / SETTINGS_FILE
    if settings_path.exists():
        raise ConfigError(f"{settings_path} exists already; this data directory is initialised")
    # Only the service account may list or read the data directory: it holds the database.
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    data_dir.chmod(0o700)
    settings = Settings(data_dir=data_dir, database_url=database_url or "", reveal_kem=kem)
    engine = create_database_engine(settings.database_url)
    try:
        # The database first: when it is unreachable nothing else is written, so the same
        # command can simply be run again.
        upgrade_engine(engine)
        sqlite_file = data_dir / "matcher.db"
        if sqlite_file.exists():
            sqlite_file.chmod(0o600)
        keys = generate_reveal_key_pair(kem)
        write_private_key_file(settings.reveal_private_key_path, keys.private_pem)
        settings.reveal_public_key_path.write_bytes(keys.public_pem)
        write_private_key_file(settings.log_private_key_path, generate_log_key())
        ensure_session_secret(settings.session_secret_path)
        BlobStore(settings.blob_dir).ensure()
        with engine.begin() as conn:
            admin, token = add_user(conn, "admin", "admin", None)
            # The log's first entry: who could do everything else from here on.
            audit.append(
                conn,
                actor=audit.system_actor("init"),
                action=AuditAction.USER_CREATE,
                outcome=Outcome("allowed", "role admin"),
                now=utcnow(),
                object_ids={"user": str(admin.id)},
            )
    finally:
        engine.dispose()
    # May hold a PostgreSQL password: readable by the service account only.
    settings_path.touch(mode=0o600)
    settings_path.write_text(
        "# Written by `matcher init`; read by `matcher serve --data-dir`.\n"
        f"database_url = {_toml_string(settings.database_url)}\n"
        f"reveal_kem = {_toml_string(settings.reveal_kem)}\n"
        f"log_origin = {_toml_string(settings.log_origin)}\n",
        encoding="utf-8",
    )
    return settings, token
