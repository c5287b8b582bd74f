"""`/metrics`: the numbers after a known sequence of actions, and who may read them."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from matcher.actions.purge import run_purge
from matcher.app import create_app
from matcher.settings import Settings
from matcher.store.audit import system_actor
from matcher.store.blobs import BlobStore
from matcher.store.database import utcnow
from tests.matcher.factories import World, auth
from tests.matcher.reveal_kit import build_reveal_world

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _samples(text: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def _total(samples: Samples, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


def test_metrics_after_uploads_a_run_a_reveal_request_and_a_purge(
    client: TestClient, world: Callable[..., World], engine: Engine, settings: Settings
) -> None:
    rw = build_reveal_world(client, world, engine)
    assert rw.request().status_code == 201
    run_purge(engine, BlobStore(settings.blob_dir), utcnow(), system_actor("test"))
    rejected = client.post(
        "/v1/extracts",
        files={"manifest": ("manifest.json", b"{}"), "records": ("records.parquet", b"x")},
        headers=auth(rw.token("data_officer-c")),
    )
    assert rejected.status_code >= 400
    client.get("/v1/hits", headers=auth(rw.token("investigator-a")))

    answer = client.get("/metrics", headers=auth(rw.token("auditor")))
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    s = _samples(answer.text)
    assert _value(s, "crosscheck_uploads_total", outcome="accepted") == 2
    assert _value(s, "crosscheck_uploads_total", outcome="rejected") == 1
    assert _value(s, "crosscheck_runs", status="succeeded") == 1
    assert _value(s, "crosscheck_runs", status="failed") == 0
    assert _value(s, "crosscheck_last_run_duration_seconds") >= 0
    hits = {labels: v for (n, labels), v in s.items() if n == "crosscheck_hits"}
    assert sum(hits.values()) == 1
    [(labels, _)] = hits.items()
    assert dict(labels)["status"] == "open" and dict(labels)["band"] in ("strong", "review")
    assert _total(s, "crosscheck_open_hits") == 1
    assert _total(s, "crosscheck_pending_reveal_requests") == 1
    assert _value(s, "crosscheck_purges_total") == 1
    assert _value(s, "crosscheck_last_purge_deleted", what="extracts_purged") == 0
    assert _value(s, "crosscheck_last_purge_timestamp_seconds") > 0
    with engine.connect() as conn:
        from matcher.store.audit import log_size

        size = log_size(conn)
    assert _value(s, "crosscheck_audit_log_entries") == size
    assert _value(s, "crosscheck_extract_bytes", status="active") > 0
    # This process's requests, by route template (never the path's values) and status.
    assert (
        _value(
            s, "crosscheck_http_requests_total", method="POST", route="/v1/extracts", status="201"
        )
        == 2
    )
    assert (
        _value(
            s,
            "crosscheck_http_requests_total",
            method="POST",
            route="/v1/hits/{hit_id}/reveal-requests",
            status="201",
        )
        == 1
    )
    # Aggregates only: no company, user, token or hit id in the exposition.
    for secret in (rw.token("auditor"), rw.token("investigator-a"), f'"{rw.hit_id}"'):
        assert secret not in answer.text


def test_metrics_are_refused_from_elsewhere_without_an_admin_or_auditor_token(
    client: TestClient, world: Callable[..., World]
) -> None:
    w = world(("a",))
    # TestClient's peer is "testclient": not in metrics_networks (the loopback by default).
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=auth("cc_" + "x" * 43)).status_code == 401
    officer = w.companies["a"].tokens["data_officer"]
    assert client.get("/metrics", headers=auth(officer)).status_code == 403
    assert client.get("/metrics", headers=auth(w.admin_token)).status_code == 200
    assert client.get("/metrics", headers=auth(w.auditor_token)).status_code == 200


def test_metrics_from_the_loopback_need_no_token_unless_forwarded_by_an_untrusted_proxy(
    settings: Settings,
) -> None:
    app = create_app(settings)
    with TestClient(app, client=("127.0.0.1", 40000)) as local:
        assert local.get("/metrics").status_code == 200
        # A proxy on the loopback that nobody listed in trusted_proxies: its clients are not
        # the loopback.
        assert local.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 401
    with TestClient(app, client=("192.0.2.7", 40000)) as remote:
        assert remote.get("/metrics").status_code == 401
    wide = settings.model_copy(update={"metrics_networks": ("192.0.2.0/24",)})
    with TestClient(create_app(wide), client=("192.0.2.7", 40000)) as monitoring:
        assert monitoring.get("/metrics").status_code == 200
