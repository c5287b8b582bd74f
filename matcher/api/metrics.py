"""``GET /metrics``: the service's numbers in the Prometheus text format.

Two kinds of numbers, from :mod:`prometheus_client`:

- **this process's**: HTTP requests by method, route template and status, and their duration,
  counted by the request log (:mod:`matcher.api.requestlog`) as they are answered;
- **the stored state's**, computed from the database at scrape time by :class:`StoredState` (a
  custom collector), so that several worker processes report the same values: upload outcomes
  and stored bytes, runs by status and the last run's duration, hits by rule, band and status,
  open hits and pending reveal requests by age bucket, the audit log's size and checkpoint age,
  and the last purge's results.

Who may scrape: a client in ``metrics_networks`` (default: the loopback only), or anyone with an
admin's or auditor's token. The client address is taken as the throttle takes it
(:mod:`matcher.api.forwarded`: behind a trusted proxy the forwarded address), and a request that
carries ``X-Forwarded-For`` from a peer that is *not* a trusted proxy never counts as coming from
the peer's network: a reverse proxy on the loopback that nobody listed in ``trusted_proxies``
would otherwise let the whole internet in as 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from matcher.actions.metrics import OpsSnapshot, read_snapshot
from matcher.api.deps import AppState, app_state, current_principal
from matcher.api.forwarded import client_address
from matcher.errors import PermissionDenied
from matcher.store.database import utcnow

__all__ = ["Metrics", "StoredState", "router"]

_SCRAPERS = ("admin", "auditor")


class StoredState(Collector):
    """The database's numbers, read when Prometheus scrapes."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        now = utcnow()
        yield from _families(read_snapshot(self._engine, now), now)


def _families(s: OpsSnapshot, now: datetime) -> Iterator[Metric]:
    uploads = CounterMetricFamily(
        "crosscheck_uploads", "Upload attempts by outcome (from the audit log)", labels=["outcome"]
    )
    for outcome, count in sorted(s.uploads.items()):
        uploads.add_metric([outcome], count)
    yield uploads
    stored = GaugeMetricFamily(
        "crosscheck_extract_bytes", "Bytes of stored upload packages by status", labels=["status"]
    )
    for status, total in sorted(s.extract_bytes.items()):
        stored.add_metric([status], total)
    yield stored
    run_counts = GaugeMetricFamily("crosscheck_runs", "Matching runs by status", labels=["status"])
    for status in ("running", "succeeded", "failed"):
        run_counts.add_metric([status], s.runs.get(status, 0))
    yield run_counts
    if s.last_run_seconds is not None and s.last_run_finished is not None:
        yield GaugeMetricFamily(
            "crosscheck_last_run_duration_seconds",
            "Duration of the latest finished matching run",
            value=s.last_run_seconds,
        )
        yield GaugeMetricFamily(
            "crosscheck_last_run_finished_timestamp_seconds",
            "When the latest matching run finished (Unix time)",
            value=s.last_run_finished.timestamp(),
        )
    hit_counts = GaugeMetricFamily(
        "crosscheck_hits", "Stored hits by rule, band and status", labels=["rule", "band", "status"]
    )
    for (rule, band, status), count in sorted(s.hits.items()):
        hit_counts.add_metric([rule, band, status], count)
    yield hit_counts
    yield _aged("crosscheck_open_hits", "Open hits by age since first seen", s.open_hits_by_age)
    yield _aged(
        "crosscheck_pending_reveal_requests",
        "Reveal requests waiting for a decision, by age",
        s.pending_reveals_by_age,
    )
    yield GaugeMetricFamily(
        "crosscheck_audit_log_entries", "Entries in the audit log", value=s.audit_entries
    )
    if s.checkpoint_signed is not None:
        yield GaugeMetricFamily(
            "crosscheck_audit_checkpoint_age_seconds",
            "Seconds since the latest signed checkpoint of the audit log",
            value=(now - s.checkpoint_signed).total_seconds(),
        )
    yield CounterMetricFamily("crosscheck_purges", "Retention purges run", value=s.purges)
    if s.last_purge is not None:
        yield GaugeMetricFamily(
            "crosscheck_last_purge_timestamp_seconds",
            "When retention last ran (Unix time)",
            value=s.last_purge.timestamp(),
        )
        deleted = GaugeMetricFamily(
            "crosscheck_last_purge_deleted", "What the last purge removed", labels=["what"]
        )
        for what, count in sorted(s.last_purge_counts.items()):
            deleted.add_metric([what], count)
        yield deleted


def _aged(name: str, documentation: str, counts: Mapping[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=["age"])
    for bucket, count in counts.items():
        family.add_metric([bucket], count)
    return family


class Metrics:
    """One registry per app: this process's request counters and the stored-state collector."""

    def __init__(self, engine: Engine) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "crosscheck_http_requests",
            "HTTP requests answered by this process, by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "crosscheck_http_request_duration_seconds",
            "Time to answer an HTTP request in this process, by route template",
            ["route"],
            registry=self.registry,
        )
        self.registry.register(StoredState(engine))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.duration.labels(route).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _from_allowed_network(request: Request, state: AppState) -> bool:
    settings = state.settings
    trusted = settings.trusted_proxies
    peer = request.client.host if request.client is not None else ""
    address = client_address(request, trusted)
    if address == peer and "x-forwarded-for" in request.headers:
        return False  # forwarded by someone we do not trust: the peer is not the client
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(n, strict=False) for n in settings.metrics_networks)


router = APIRouter(tags=["operations"])
_bearer = HTTPBearer(auto_error=False)


@router.get(
    "/metrics",
    response_class=Response,
    summary="Operational metrics (Prometheus text format)",
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
def metrics(
    request: Request,
    state: Annotated[AppState, Depends(app_state)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Response:
    """From ``metrics_networks`` (default the loopback) with no token; from elsewhere an admin's
    or auditor's token. Aggregates only: no person, company or object is named."""
    if not _from_allowed_network(request, state):
        principal = current_principal(request, state, credentials)
        if principal.role not in _SCRAPERS:
            raise PermissionDenied(
                f"role {principal.role} may not read /metrics; it admits admin, auditor, or "
                "any client in metrics_networks"
            )
    registry: Metrics = request.app.state.metrics
    return Response(registry.exposition(), media_type=CONTENT_TYPE_LATEST)
