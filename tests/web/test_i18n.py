"""Every string of the pages is in both catalogues, and Swedish is actually translated."""

from __future__ import annotations

import io
import re

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from matcher.web.i18n import TEMPLATE_DIR, catalogue_path, environments


def _template_messages() -> set[str]:
    method_map = [("**.html", "jinja2")]
    options = {"**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "true"}}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(TEMPLATE_DIR), method_map, options
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_template_string_is_translated_in_both_catalogues() -> None:
    wanted = _template_messages()
    assert len(wanted) > 100
    for language in ("sv", "en"):
        with catalogue_path(language).open("rb") as source:
            catalogue = read_po(source)
        translated = {
            str(m.id): str(m.string) for m in catalogue if isinstance(m.id, str) and m.string
        }
        missing = sorted(wanted - set(translated))
        assert not missing, f"{language}: untranslated {missing[:5]} (run pybabel update)"
        # Placeholders survive translation, or the page would raise while formatting.
        for msgid, text in translated.items():
            assert set(re.findall(r"%\((\w+)\)s", msgid)) == set(
                re.findall(r"%\((\w+)\)s", text)
            ), (language, msgid)


def test_swedish_is_not_english() -> None:
    with catalogue_path("sv").open("rb") as source:
        catalogue = read_po(source)
    same = [m.id for m in catalogue if m.id and m.string == m.id]
    # A few words are the same in both languages (Status, Policy, Id, Start).
    assert len(same) <= 6, same


def test_pages_render_in_each_language() -> None:
    envs = environments(("sv", "en"))
    html = {
        lang: env.get_template("sign_in.html").render(
            principal=None,
            csrf_field="csrf_token",
            csrf_token="t",
            path="/web/sign-in",
            token_sign_in=True,
        )
        for lang, env in envs.items()
    }
    assert "<h1>Logga in</h1>" in html["sv"] and 'lang="sv"' in html["sv"]
    assert "<h1>Sign in</h1>" in html["en"] and 'lang="en"' in html["en"]
    assert io.StringIO(html["sv"]).read().count('name="csrf_token"') == 2
