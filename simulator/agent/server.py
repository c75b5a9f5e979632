"""Running the agent: its HTTP face under uvicorn on 127.0.0.1, in the foreground (the CLI)
or on a background thread (tests, suites, the reference stack).

    with AgentServer(agent, port=0) as server:     # port 0: a free port
        print(server.url)                           # http://127.0.0.1:41234
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import sys
import threading
import time

import uvicorn

from simulator.agent.api import create_app
from simulator.agent.core import Agent
from simulator.agent.headers import SecurityHeaders
from simulator.agent.protocol import DEFAULT_PORT

log = logging.getLogger("careid.agent.server")

HOST = "127.0.0.1"  # loopback only, always
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


def _exit_on_sigterm(signum: int, frame: object) -> None:
    sys.exit(0)


class AgentServer:
    def __init__(self, agent: Agent, *, port: int = DEFAULT_PORT, access_log: bool = True) -> None:
        self.agent = agent
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((HOST, port))
        except OSError:
            self._socket.close()
            raise
        self._socket.listen(128)
        self.port: int = self._socket.getsockname()[1]
        self.url = f"http://{HOST}:{self.port}"
        self.app = create_app(agent, self.url)
        config = uvicorn.Config(
            # Once more around the whole app: Starlette answers a crash (500) outside the
            # app's own middleware.
            SecurityHeaders(self.app),
            log_config=None,
            access_log=access_log,
            timeout_graceful_shutdown=2,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def serve_forever(self) -> None:
        """Run in this thread until SIGINT/SIGTERM (the foreground `careid agent up`).

        uvicorn re-raises the signal it stopped for once it has shut down; the handler set
        here turns SIGTERM into SystemExit(0), so the `finally` below (and the caller's)
        still run."""
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        self.agent.start()
        try:
            self._server.run(sockets=[self._socket])
        finally:
            self.agent.stop()
            self._socket.close()

    def start(self) -> AgentServer:
        """Serve on a background thread; returns once the server answers."""
        self.agent.start()
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name=f"careid-agent-http-{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the agent's HTTP server did not start on {self.url}")
            time.sleep(0.01)
        log.info("agent listening on %s", self.url)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        # The agent first: its event streams and long polls end within a second.
        self.agent.stop()
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(STOP_TIMEOUT)
            self._thread = None
        with contextlib.suppress(OSError):
            self._socket.close()

    def __enter__(self) -> AgentServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
