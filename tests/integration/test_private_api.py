"""The private Prefect API a CLI invocation starts (`cli.api`): it answers, the flow commands use it,
and it dies with the gate even when the gate is killed with SIGKILL (no orphan server)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

HOLDER = """
import os, sys, time
from cli import api
api.start()
api.wait_ready()
print(os.environ["PREFECT_API_URL"], api._process.pid, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "State:\tZ" in status.read_text())  # a zombie is gone


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_killed_gate_leaves_no_server_behind(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, text=True, env=env, cwd=tmp_path
    )
    try:
        line = holder.stdout.readline() if holder.stdout else ""
        url, server = line.split()
        assert url.startswith("http://127.0.0.1:")
        assert _alive(int(server))
        holder.send_signal(signal.SIGKILL)  # no exit handler runs
        holder.wait(timeout=10)
        deadline = time.monotonic() + 15
        while _alive(int(server)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(int(server)), f"the Prefect API server {server} outlived its killed gate"
    finally:
        if holder.poll() is None:
            holder.kill()


GUARD = """
import os, sys
from cli import api
api.start()
started = api._process is not None
api.stop()
print(started, "prefect" in sys.modules)
"""


@pytest.mark.parametrize(
    ("url", "expected"), [(None, "True False"), ("http://127.0.0.1:9/api", "False False")]
)
def test_the_private_api_starts_only_without_a_configured_one(url: str | None, expected: str) -> None:
    """A user's PREFECT_API_URL is used as it is; without one the CLI starts its own server, before
    Prefect is imported (Prefect reads its settings at import)."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    if url:
        env["PREFECT_API_URL"] = url
    done = subprocess.run(
        [sys.executable, "-c", GUARD], capture_output=True, text=True, env=env, timeout=60, check=True
    )
    assert done.stdout.split() == expected.split()


HEARTBEAT = """
import os
from cli import api
api.start()
api.wait_ready()
from prefect import flow
from prefect.settings import get_current_settings

@flow
def probe():
    return get_current_settings().flows.heartbeat_frequency

with api.flow_settings():
    inside = probe() if api._process is not None else get_current_settings().flows.heartbeat_frequency
print(inside, get_current_settings().flows.heartbeat_frequency)
api.stop()
"""


@pytest.mark.parametrize(("url", "expected"), [(None, "None 180"), ("http://127.0.0.1:9/api", "180 180")])
def test_flows_on_the_private_api_send_no_heartbeats(url: str | None, expected: str) -> None:
    """Nothing outlives the private API to read a heartbeat, and its thread's join cost each flow ~0.5 s;
    on a configured server (it outlives the run and may watch for crashed runs) they stay as set."""
    unset = ("PREFECT_API_URL", "PREFECT_FLOWS_HEARTBEAT_FREQUENCY")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    if url:
        env["PREFECT_API_URL"] = url
    done = subprocess.run(
        [sys.executable, "-c", HEARTBEAT], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-2:] == expected.split()
