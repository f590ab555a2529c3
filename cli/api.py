"""One private Prefect API per CLI invocation, started before the heavy imports and tied to our life.

Without PREFECT_API_URL, Prefect starts an ephemeral API server in a subprocess the first time a
flow runs, and waits for it (~3 s) after the flows, MLflow and scikit-learn have been imported
(~5 s). Starting the same server (Prefect's own `create_app`, as its `SubprocessASGIServer` does)
before those imports lets the two overlap; the URL is set in the environment before Prefect is
imported, so every flow of the invocation (a demo runs several) uses the one server.

The server dies with the gate: on Linux it gets SIGTERM from the kernel when its parent dies,
even by SIGKILL (`PR_SET_PDEATHSIG`); otherwise it is stopped at exit. With PREFECT_API_URL
set by the user nothing is started.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from gatekeeper import PRIVATE_PREFECT_API
from gatekeeper.errors import GatekeeperError

STARTUP_TIMEOUT_S = 60.0
LOCAL_UI = "http://127.0.0.1:4200"  # where `prefect server start` serves the local database
_process: subprocess.Popen[bytes] | None = None


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _launch(port: int) -> subprocess.Popen[bytes]:
    spec = importlib.util.find_spec("prefect")
    if spec is None or spec.origin is None:
        raise GatekeeperError("prefect is not installed in this environment (pip install the gatekeeper)")
    env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1"}
    env.pop("PREFECT_API_URL", None)
    args = [sys.executable, "-m", "uvicorn", "--app-dir", str(Path(spec.origin).parent.parent)]
    args += ["--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1"]
    args += ["--port", str(port), "--log-level", "error", "--lifespan", "on"]
    return subprocess.Popen(args, env=env, preexec_fn=_die_with_parent)


def start() -> None:
    """Start the private API unless a Prefect API is configured; returns at once."""
    global _process
    if _process is not None or os.environ.get("PREFECT_API_URL") or "prefect" in sys.modules:
        return  # a configured API, or Prefect already imported (its settings are read at import)
    port = _free_port()
    _process = _launch(port)
    os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
    os.environ[PRIVATE_PREFECT_API] = "1"
    # the private API keeps its runs in Prefect's local database, which `prefect server start` serves
    # at its default address: Prefect's "View at" links point there, not at this short-lived port
    os.environ.setdefault("PREFECT_UI_URL", LOCAL_UI)
    atexit.register(stop)


def wait_ready(timeout: float = STARTUP_TIMEOUT_S) -> None:
    """Block until the private API answers its health check (no-op without one)."""
    global _process
    if _process is None:
        return
    import httpx

    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            code = _process.poll()
            if code == 3:  # the port was taken in between: another one
                port = _free_port()
                _process = _launch(port)
                os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
                continue
            if code is not None:
                raise GatekeeperError(f"the local Prefect API server exited with code {code} while starting")
            with contextlib.suppress(httpx.HTTPError):
                if client.get(f"{os.environ['PREFECT_API_URL']}/health").status_code == 200:
                    return
            time.sleep(0.05)
    stop()
    raise GatekeeperError(
        f"the local Prefect API server did not answer within {timeout:.0f} s; "
        "set PREFECT_API_URL to a running `prefect server start` instead"
    )


@contextlib.contextmanager
def flow_settings() -> Iterator[None]:
    """Around a flow call on the private API: no flow-run heartbeats. A heartbeat lets a server notice
    that a run's process died; the private API dies with this process, so no server is left to notice,
    and each flow's end waited ~0.5 s for the heartbeat thread (it sleeps in 1 s steps, Prefect 3.8).
    With PREFECT_API_URL set (a server that outlives the run) heartbeats stay as configured."""
    if _process is None:
        yield
        return
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


def stop() -> None:
    """Stop the private API (idempotent)."""
    global _process
    if _process is None:
        return
    _process.terminate()
    try:
        _process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        _process.kill()
        _process.wait()
    _process = None
