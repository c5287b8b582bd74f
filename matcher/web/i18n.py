"""Languages of the web pages: Babel catalogues and one Jinja environment per language.

Every visible string of the pages is in the templates, marked with ``_()`` or ``{% trans %}``;
the catalogues are ``locale/<lang>/LC_MESSAGES/messages.po``. They are compiled in memory when
the app starts (no build step, no stale ``.mo`` file). One environment per language, rather than
switching translations per request, because an environment's gettext is shared by all threads.

After changing a template's text, update the catalogues and translate the new entries
(tests/web/test_i18n.py fails while one is missing)::

    pybabel extract -F matcher/web/babel.cfg -o /tmp/messages.pot matcher/web
    pybabel update -i /tmp/messages.pot -d matcher/web/locale --no-fuzzy-matching
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, select_autoescape

__all__ = ["LOCALE_DIR", "TEMPLATE_DIR", "catalogue_path", "environments", "translations"]

_HERE = Path(__file__).parent
LOCALE_DIR = _HERE / "locale"
TEMPLATE_DIR = _HERE / "templates"


def catalogue_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"


def translations(language: str) -> Translations:
    """The language's catalogue, compiled from its ``.po`` file."""
    with catalogue_path(language).open("rb") as source:
        catalog = read_po(source, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain="messages")


def environments(languages: tuple[str, ...]) -> Mapping[str, Environment]:
    """A Jinja environment per language, templates autoescaped, gettext in new style (escaped,
    ``%(name)s`` placeholders filled by keyword)."""
    result = {}
    for language in languages:
        env = Environment(
            loader=FileSystemLoader(TEMPLATE_DIR),
            autoescape=select_autoescape(["html", "svg"]),
            extensions=["jinja2.ext.i18n"],
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
        env.globals["lang"] = language
        result[language] = env
    return result
