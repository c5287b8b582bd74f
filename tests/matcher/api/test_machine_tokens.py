"""Machine tokens as a script's owner uses them: made with a name and an expiry, used by the
script, rotated without downtime, revoked, run out; the same through the API and the console,
each step in the log."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from matcher.actions.purge import run_purge
from matcher.cli.main import main
from matcher.store import audit
from matcher.store.blobs import BlobStore
from matcher.store.database import utcnow
from matcher.store.tables import api_tokens
from tests.matcher.factories import World, auth


def _actions(engine: Engine) -> list[tuple[str, dict[str, str], str | None]]:
    with engine.connect() as conn:
        page = audit.entries(conn, limit=100_000)
    return [(e.action, dict(e.object_ids), e.outcome.reason) for e in page.items]


def test_a_machine_token_works_rotates_without_downtime_and_stops(
    client: TestClient, world: Callable[..., World], engine: Engine
) -> None:
    w = world()
    admin = auth(w.admin_token)
    made = client.post(
        "/v1/users/data_officer-a/tokens",
        json={"name": "nightly upload", "days": 30},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    first = made.json()
    assert first["token"].startswith("cc_")
    left = datetime.fromisoformat(first["expires_at"]) - utcnow()
    assert timedelta(days=29) < left <= timedelta(days=30)
    # the script uses it: it acts as the data officer, and its use is noted
    assert client.get("/v1/extracts", headers=auth(first["token"])).status_code == 200
    listed = client.get("/v1/users/data_officer-a/tokens", headers=admin).json()
    assert [t["name"] for t in listed] == ["nightly upload"]
    assert listed[0]["last_used_at"] is not None and "token" not in listed[0]

    # rotation: both work during the overlap, so the script switches without a failed night
    rotated = client.post(
        f"/v1/tokens/{first['id']}/rotate", json={"overlap_days": 2}, headers=admin
    ).json()
    for token in (first["token"], rotated["token"]):
        assert client.get("/v1/extracts", headers=auth(token)).status_code == 200
    listed = client.get("/v1/users/data_officer-a/tokens", headers=admin).json()
    old = next(t for t in listed if t["id"] == first["id"])
    assert old["replaced_by"] == rotated["id"]
    # with no overlap the old one stops at once
    again = client.post(
        f"/v1/tokens/{rotated['id']}/rotate", json={"overlap_days": 0}, headers=admin
    ).json()
    assert client.get("/v1/extracts", headers=auth(rotated["token"])).status_code == 401
    assert client.get("/v1/extracts", headers=auth(again["token"])).status_code == 200

    # revoked: refused at once
    assert client.post(f"/v1/tokens/{again['id']}/revoke", headers=admin).status_code == 200
    assert client.get("/v1/extracts", headers=auth(again["token"])).status_code == 401

    # a token that runs out: refused, and the next purge writes its token.expire once
    short = client.post(
        "/v1/users/investigator-a/tokens", json={"name": "report script", "days": 1}, headers=admin
    ).json()
    with engine.begin() as conn:
        conn.execute(
            update(api_tokens)
            .where(api_tokens.c.id == short["id"])
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
    assert client.get("/v1/hits", headers=auth(short["token"])).status_code == 401
    blobs = BlobStore(w.settings.blob_dir)
    run_purge(engine, blobs, utcnow(), audit.system_actor("purge"))
    run_purge(engine, blobs, utcnow(), audit.system_actor("purge"))
    entries = _actions(engine)
    expired = [e for e in entries if e[0] == "token.expire"]
    # the first token ran out at its rotation (overlap 2 days: not yet); the second at once
    assert [e[1]["token"] for e in expired] == [str(rotated["id"]), str(short["id"])]
    kinds = [e[0] for e in entries]
    for action in ("token.create", "token.list", "token.rotate", "token.revoke"):
        assert action in kinds
    rotation = next(e for e in entries if e[0] == "token.rotate")
    assert rotation[1]["successor"] == str(rotated["id"])
    # never the token itself in the log
    assert not any(first["token"] in json.dumps(e) for e in entries)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "", "days": 30}, "name"),
        ({"name": "x", "days": 0}, "days"),
        ({"name": "x", "days": 400}, "days"),
    ],
)
def test_a_bad_token_request_names_the_field(
    client: TestClient, world: Callable[..., World], body: dict[str, object], field: str
) -> None:
    w = world()
    answer = client.post("/v1/users/data_officer-a/tokens", json=body, headers=auth(w.admin_token))
    assert answer.status_code == 422
    assert field in answer.text


def test_the_console_makes_lists_rotates_and_revokes_tokens(
    world: Callable[..., World], capsys: pytest.CaptureFixture[str], client: TestClient
) -> None:
    w = world()
    data = ["--data-dir", str(w.settings.data_dir)]
    capsys.readouterr()
    assert (
        main(
            ["tokens", "add", "data_officer-a", "--name", "upload", "--days", "10", "--json", *data]
        )
        == 0
    )
    made = json.loads(capsys.readouterr().out)
    assert client.get("/v1/extracts", headers=auth(made["token"])).status_code == 200
    assert main(["tokens", "list", "data_officer-a", *data]) == 0
    listing = capsys.readouterr().out
    assert "upload" in listing and made["token"] not in listing
    assert main(["tokens", "rotate", str(made["id"]), "--overlap-days", "0", "--json", *data]) == 0
    successor = json.loads(capsys.readouterr().out)
    assert client.get("/v1/extracts", headers=auth(made["token"])).status_code == 401
    assert client.get("/v1/extracts", headers=auth(successor["token"])).status_code == 200
    assert main(["tokens", "revoke", str(successor["id"]), *data]) == 0
    assert "Revoked token" in capsys.readouterr().out
    # a token of an unknown user: a clear refusal, exit 1
    assert main(["tokens", "add", "nobody", "--name", "x", *data]) == 1
    assert "no user named nobody" in capsys.readouterr().err
