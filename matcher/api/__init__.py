"""The matcher's HTTP API (FastAPI): auth dependencies, problem responses, routes.

The app itself is composed in :mod:`matcher.app` (``create_app(settings)``), which adds the
pages (:mod:`matcher.web`) to these routes.
"""

__all__: list[str] = []
