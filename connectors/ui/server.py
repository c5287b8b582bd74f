"""Running `connector ui`: a uvicorn server on 127.0.0.1 only, and the one-time link.

The socket is bound here, before uvicorn starts, so the port is known when the link is made
and a request for any other address is refused before anything listens. uvicorn's access log
is off: the first request's URL carries the one-time token, and no request is ever logged.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import Final

import uvicorn

from connectors.errors import ConnectorError
from connectors.ui.app import UiSettings, create_app
from connectors.ui.guard import Guard

__all__ = ["LOOPBACK", "RunningUi", "bind", "prepare", "start_in_thread"]

LOOPBACK: Final = "127.0.0.1"


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:`port` (0 = any free port); any other host is refused."""
    if host != LOOPBACK:
        raise ConnectorError(
            f"connector ui listens on {LOOPBACK} only (asked for {host!r}): the pages show "
            "register values and must never be reachable from another computer"
        )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((LOOPBACK, port))
    except OSError as error:
        sock.close()
        raise ConnectorError(
            f"port {port} on {LOOPBACK} is taken ({error.strerror}); give another with --port"
        ) from None
    sock.listen(16)
    return sock


@dataclass
class RunningUi:
    """A prepared server: its socket, guard (with the one-time link) and uvicorn server."""

    sock: socket.socket
    guard: Guard
    server: uvicorn.Server
    thread: threading.Thread | None = None

    @property
    def start_url(self) -> str:
        return self.guard.start_url

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.guard.port}"

    def run(self) -> None:
        """Serve until Ctrl-C (the CLI) or :meth:`stop`."""
        self.server.run(sockets=[self.sock])

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)
        self.sock.close()


def prepare(settings: UiSettings, host: str = LOOPBACK, port: int = 0) -> RunningUi:
    sock = bind(host, port)
    guard = Guard(sock.getsockname()[1])
    config = uvicorn.Config(
        create_app(settings, guard),
        log_level="warning",
        access_log=False,
        lifespan="off",
        server_header=False,
    )
    return RunningUi(sock, guard, uvicorn.Server(config))


def start_in_thread(settings: UiSettings, host: str = LOOPBACK, port: int = 0) -> RunningUi:
    """Start the server in a background thread (tests); returns once it accepts requests."""
    running = prepare(settings, host, port)
    running.thread = threading.Thread(target=running.run, name="connector-ui", daemon=True)
    running.thread.start()
    deadline = time.monotonic() + 20
    while not running.server.started:
        if time.monotonic() > deadline or not running.thread.is_alive():
            raise RuntimeError("connector ui did not start")
        time.sleep(0.02)
    return running
