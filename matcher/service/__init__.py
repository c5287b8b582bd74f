"""The matcher's HTTP API (FastAPI): app factory, auth dependencies, problem responses, routes."""

from matcher.service.app import create_app

__all__ = ["create_app"]
