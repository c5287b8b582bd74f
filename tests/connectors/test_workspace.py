"""The workspace functions `connector init` and `connector ui` share: a changed mapping is
written back without losing the rest of the profile, and a refused one changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors import pseudonymise
from connectors.errors import ProfileError
from connectors.profile import load_profile
from connectors.workspace import create_workspace, save_mapping, suggest_from_export

DATA = Path(__file__).parents[1] / "data"


@pytest.fixture
def made(tmp_path: Path) -> Path:
    key = tmp_path / "matching.key"
    pseudonymise.write_matching_key(key, pseudonymise.new_matching_key())
    _, public = pseudonymise.new_reveal_key_pair()
    (tmp_path / "reveal.pub").write_bytes(public)
    workspace = create_workspace(
        tmp_path / "ws",
        company_id="linbo",
        matching_key=key,
        matcher_url="https://matcher.example.se",
        suggested=suggest_from_export(DATA / "good_english.csv"),
        reveal_key=tmp_path / "reveal.pub",
    )
    return workspace.profile


def test_save_mapping_keeps_the_rest_of_the_profile(made: Path) -> None:
    text = made.read_text(encoding="utf-8")
    text = text.replace('local_key = "local.key"', 'local_key = "secrets/local.key"')
    text = text.replace('# token_file = "token"', 'token_file = "token"')
    made.write_text(text, encoding="utf-8")
    before = load_profile(made)
    mapping = {k: v for k, v in before.mapping.items() if k != "email"}
    after = save_mapping(before, mapping, not_protection_flags=["Sublet approved"])
    assert load_profile(made) == after
    assert "email" not in after.mapping
    assert after.not_protection_flags == ("Sublet approved",)
    assert after.local_key_path == made.parent / "secrets" / "local.key"
    assert after.token_file == made.parent / "token"
    assert (after.company_id, after.matcher_url, after.reveal_key_fingerprint) == (
        before.company_id,
        before.matcher_url,
        before.reveal_key_fingerprint,
    )


def test_a_refused_mapping_leaves_the_file_as_it_was(made: Path) -> None:
    before = made.read_text(encoding="utf-8")
    profile = load_profile(made)
    with pytest.raises(ProfileError, match="required field is not mapped"):
        save_mapping(profile, {"record_id": "Record ID"})
    assert made.read_text(encoding="utf-8") == before
    assert not list(made.parent.glob("*.new"))


def test_a_bad_company_id_writes_no_workspace(tmp_path: Path) -> None:
    key = tmp_path / "matching.key"
    pseudonymise.write_matching_key(key, pseudonymise.new_matching_key())
    with pytest.raises(ProfileError, match="is not a company id"):
        create_workspace(
            tmp_path / "ws", company_id="Linbo AB", matching_key=key, matcher_url="https://m.se"
        )
    assert not (tmp_path / "ws").exists()
