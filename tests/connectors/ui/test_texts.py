"""Every text of `connector ui` exists in Swedish and English, and every id a template uses."""

from __future__ import annotations

import re
from pathlib import Path

from connectors.record import CANONICAL_FIELDS, EXCLUSION_REASONS
from connectors.ui.texts import FIELD_LABELS, LANGUAGES, REASON_LABELS, TEXTS

TEMPLATES = Path(__file__).parents[3] / "connectors" / "ui" / "templates"


def test_every_text_has_both_languages_and_they_differ_where_they_should() -> None:
    for key, texts in TEXTS.items():
        assert set(texts) == set(LANGUAGES), key
        assert all(texts[lang].strip() for lang in LANGUAGES), key
    assert TEXTS["export.title"]["sv"] != TEXTS["export.title"]["en"]


def test_every_id_a_template_uses_is_there() -> None:
    used = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"""t\(["']([a-z_.]+ ?[a-z_]*)["']\)""", template.read_text()))
    assert used, "the pattern found no t(...) calls"
    assert used <= set(TEXTS), sorted(used - set(TEXTS))


def test_every_field_and_exclusion_reason_has_a_label() -> None:
    assert set(FIELD_LABELS) == set(CANONICAL_FIELDS)
    assert set(EXCLUSION_REASONS) <= set(REASON_LABELS)
    assert FIELD_LABELS["national_id"]["sv"].startswith("personnummer")


def test_the_templates_have_no_inline_script_or_style() -> None:
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), template.name
        assert "<style" not in text and " style=" not in text, template.name
        assert not re.search(r"\son[a-z]+=", text), template.name
