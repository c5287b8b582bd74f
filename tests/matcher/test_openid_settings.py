"""OpenID issuers in matcher.toml: mistakes are named with the issuer and the key, and the
claims of a signed-in person map to a company and a role, or to the reason they do not."""

from __future__ import annotations

from pathlib import Path

import pytest

from matcher.actions.identity import Mapped, logged_subject, map_claims
from matcher.errors import ConfigError
from matcher.settings import OpenIdIssuer, init_data_dir, load_settings

BROKER = """
[[openid_issuers]]
name = "broker"
label = "Broker"
issuer = "https://broker.example.se"
client_id = "crosscheck"
client_secret_file = "broker.secret"
company_claim = "organisation"
company_map = { "5560001111" = "linbo" }
role_claim = "groups"
role_map = { "cc-investigators" = "investigator", "cc-auditors" = "auditor" }
"""


def _issuer(**changes: object) -> OpenIdIssuer:
    fields: dict[str, object] = {
        "name": "broker",
        "label": "Broker",
        "issuer": "https://broker.example.se",
        "client_id": "crosscheck",
        "client_secret_file": Path("/nonexistent"),
        "company_claim": "organisation",
        "company_map": {"5560001111": "linbo"},
        "role_map": {"cc-investigators": "investigator", "cc-auditors": "auditor"},
    }
    fields.update(changes)
    return OpenIdIssuer.model_validate(fields)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    settings, _ = init_data_dir(tmp_path / "m", None)
    return settings.data_dir


def _with(data_dir: Path, text: str) -> None:
    with (data_dir / "matcher.toml").open("a", encoding="utf-8") as toml:
        toml.write(text)


def test_an_issuer_is_read_with_its_secret_file_in_the_data_directory(data_dir: Path) -> None:
    _with(data_dir, BROKER)
    (data_dir / "broker.secret").write_text("s3cret\n", encoding="utf-8")
    settings = load_settings(data_dir)
    (issuer,) = settings.openid_issuers
    assert issuer.client_secret_file == data_dir / "broker.secret"
    assert issuer.client_secret() == "s3cret"
    assert issuer.metadata == "https://broker.example.se/.well-known/openid-configuration"
    # once a provider is configured, the sign-in page takes no personal tokens by default
    assert settings.token_sign_in_allowed is False


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ('role_map = { "x" = "superuser" }', "role_map['x'] = 'superuser' is not a role"),
        ("role_map = {}", "role_map is empty"),
        ('company = "linbo"', "give either company"),
        ('scopes = ["profile"]', "scopes must include openid"),
        ('issuer = "broker.example.se"', "issuer"),
    ],
)
def test_a_wrong_issuer_is_refused_naming_the_key(
    data_dir: Path, change: str, message: str
) -> None:
    key = change.split(" = ")[0]
    text = "\n".join(line for line in BROKER.splitlines() if not line.startswith(f"{key} ="))
    _with(data_dir, text + "\n" + change + "\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(data_dir)
    assert message in str(caught.value)
    assert "matcher.toml" in str(caught.value)


def test_two_issuers_with_one_name_are_refused(data_dir: Path) -> None:
    _with(data_dir, BROKER + BROKER)
    with pytest.raises(ConfigError, match="each name once"):
        load_settings(data_dir)


def test_a_missing_secret_file_is_named(tmp_path: Path) -> None:
    issuer = _issuer(client_secret_file=tmp_path / "missing.secret")
    with pytest.raises(
        ConfigError, match=r"openid issuer broker: the client secret file .*missing"
    ):
        issuer.client_secret()


def test_claims_map_to_company_and_role() -> None:
    issuer = _issuer()
    claims = {"sub": "abc", "preferred_username": "anna", "organisation": "5560001111"}
    found = map_claims(issuer, {**claims, "groups": ["other", "cc-investigators"]})
    assert found == Mapped("abc", "anna", "linbo", "investigator")
    # the operator's roles belong to no company, whatever the claim says
    assert map_claims(issuer, {**claims, "groups": "cc-auditors"}) == Mapped(
        "abc", "anna", None, "auditor"
    )


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"groups": ["cc-investigators"], "organisation": "5560001111"}, "no-subject"),
        ({"sub": "abc", "groups": ["elsewhere"], "organisation": "5560001111"}, "no-role"),
        ({"sub": "abc", "groups": ["cc-investigators"], "organisation": "999"}, "no-company"),
        ({"sub": "abc", "groups": ["cc-investigators"]}, "no-company"),
        ({"sub": "abc", "groups": 7, "organisation": "5560001111"}, "no-role"),
    ],
)
def test_claims_that_map_to_nothing_say_why(claims: dict[str, object], reason: str) -> None:
    assert map_claims(_issuer(), claims) == reason


def test_a_subject_that_looks_personal_is_logged_as_a_keyed_tag() -> None:
    assert logged_subject(b"k" * 32, "4ff1c2d0-9a7e-4b1f-8d2a-7c0b9e5f3a11") == (
        "4ff1c2d0-9a7e-4b1f-8d2a-7c0b9e5f3a11"
    )
    for personal in ("198112189876", "19811218-9876", "anna@bostad.example.se"):
        tag = logged_subject(b"k" * 32, personal)
        assert tag.startswith("subject-") and personal not in tag
        assert tag == logged_subject(b"k" * 32, personal)  # the same person, the same tag
        assert tag != logged_subject(b"j" * 32, personal)  # keyed: not guessable without it
