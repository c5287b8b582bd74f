"""The web interface: server-rendered pages (Jinja2) in the matcher's FastAPI app.

No single-page framework and no JavaScript needed: every page is a plain HTML document, every
action a form POST with a CSRF token. ``install_web(app, settings)`` is the one call
``create_app`` makes: it adds the session middleware, the page routers, the static files and
the HTML error pages (API paths keep problem+json).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from matcher.core.limits import TEXT_LIMITS
from matcher.settings import Settings, ensure_session_secret
from matcher.web.account import router as account_router
from matcher.web.admin import router as admin_router
from matcher.web.admin_policies import router as policies_router
from matcher.web.auditor import router as auditor_router
from matcher.web.charts import bar_chart, daily_chart
from matcher.web.data_officer import router as data_officer_router
from matcher.web.i18n import environments
from matcher.web.investigator import router as investigator_router
from matcher.web.openid import router as openid_router
from matcher.web.render import Pages, install_error_pages
from matcher.web.reveal import router as reveal_router
from matcher.web.session import LANGUAGES, SessionCodec, SessionMiddleware
from matcher.web.timeline import timeline_svg

__all__ = ["STATIC_DIR", "install_web"]

STATIC_DIR = Path(__file__).parent / "static"


def install_web(app: FastAPI, settings: Settings) -> None:
    """Add the pages to ``app``; call after the API's routers and error handlers."""
    envs = environments(LANGUAGES)
    for env in envs.values():
        env.globals["timeline_svg"] = timeline_svg
        env.globals["limits"] = TEXT_LIMITS
        env.globals["bar_chart"] = bar_chart
        env.globals["daily_chart"] = daily_chart
    app.state.web_pages = Pages(envs)
    for router in (
        account_router,
        openid_router,
        investigator_router,
        reveal_router,
        data_officer_router,
        admin_router,
        policies_router,
        auditor_router,
    ):
        app.include_router(router)
    app.mount("/web/static", StaticFiles(directory=STATIC_DIR), name="web-static")
    app.add_middleware(
        SessionMiddleware, codec=SessionCodec(ensure_session_secret(settings.session_secret_path))
    )
    install_error_pages(app)
