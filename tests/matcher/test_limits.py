"""One table of text limits (matcher/core/limits.py): the API's models and the pages' forms
say the same, so a form never lets through what the API refuses, or refuses what it takes."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from matcher.core import limits

TEMPLATES = Path(__file__).parents[2] / "matcher" / "web" / "templates"


def test_no_form_field_states_a_length_of_its_own() -> None:
    literal = re.compile(r'maxlength="\d+"')
    found = {p.name: literal.findall(p.read_text("utf-8")) for p in TEMPLATES.glob("*.html")}
    assert {name: hits for name, hits in found.items() if hits} == {}


def test_the_api_schema_carries_the_same_limits(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    reveal = schemas["RevealRequestIn"]["properties"]
    assert reveal["purpose"]["maxLength"] == limits.PURPOSE_CHARS
    assert reveal["case_reference"]["maxLength"] == limits.CASE_REFERENCE_CHARS
    assert reveal["justification"]["maxLength"] == limits.JUSTIFICATION_CHARS
    assert schemas["DecisionIn"]["properties"]["reason"]["maxLength"] == (
        limits.DECISION_REASON_CHARS
    )
    assert schemas["OutcomeIn"]["properties"]["note"]["maxLength"] == limits.OUTCOME_NOTE_CHARS
    company = schemas["CompanyIn"]["properties"]
    assert company["id"]["maxLength"] == limits.COMPANY_ID_CHARS
    assert company["id"]["pattern"] == limits.COMPANY_ID.pattern
    assert company["name"]["maxLength"] == limits.COMPANY_NAME_CHARS
    assert schemas["UserIn"]["properties"]["name"]["maxLength"] == limits.USER_NAME_CHARS
