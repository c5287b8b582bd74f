"""`connector ui`: the connector's round in a local web app, for data officers who do not use
a terminal. It calls the same library functions as the CLI and writes the same profile; it
needs the `connector-ui` extra (Starlette, uvicorn, Jinja2)."""

from connectors.ui.app import UiSettings, create_app
from connectors.ui.guard import Guard
from connectors.ui.server import RunningUi, bind, prepare, start_in_thread

__all__ = ["Guard", "RunningUi", "UiSettings", "bind", "create_app", "prepare", "start_in_thread"]
