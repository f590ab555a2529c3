"""Real `prefect server start`, `mlflow server` and a process worker on loopback, for the deployment tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

import gatekeeper

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# what Prefect's client retries by default (prefect/client/base.py; PREFECT_CLIENT_MAX_RETRIES is 5)
RETRYABLE_STATUS = frozenset({429, 502, 503})
API_ATTEMPTS = 6
WEBHOOK_SECRET = "test-webhook-secret-0f6c2b9e"
WEBHOOK_ENCRYPTION_KEY = "T0i9mY3lW0kq6Z8y2c1b4n7m5x8v2z3a6s9d1f4g7h0="  # a Fernet key: 32 bytes, base64


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(what: str, check: Callable[[], Any], timeout: float, every: float = 0.5) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (httpx.HTTPError, OSError) as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(every)
    raise TimeoutError(f"{what}: not within {timeout:.0f} s (last seen: {last!r})")


@dataclass
class Servers:
    """The processes of one test module and how to reach them."""

    root: Path
    prefect_port: int = field(default_factory=free_port)
    mlflow_port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.prefect_port}"

    @property
    def api_url(self) -> str:
        return f"{self.ui_url}/api"

    @property
    def mlflow_url(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
        if not gatekeeper.OPENMP_POLICY_PRESET:  # as a new user's shell: not what importing gatekeeper set
            env.pop("OMP_WAIT_POLICY", None)
        env.update(
            PREFECT_HOME=str(self.root / "prefect-home"),
            PREFECT_API_URL=self.api_url,
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{self.root / 'prefect.db'}",
            PREFECT_WORKER_QUERY_SECONDS="2",
            PREFECT_WORKER_PREFETCH_SECONDS="5",
            PREFECT_LOGGING_LEVEL="INFO",
            MLFLOW_TRACKING_URI=self.mlflow_url,
            # registry webhooks to a receiver on loopback over http (MLflow allows https to public
            # addresses only by default), re-read at once, with secrets every worker can decrypt
            MLFLOW_WEBHOOK_ALLOWED_SCHEMES="http,https",
            MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS="true",  # the name in MLflow 3.17 (no leading _)
            MLFLOW_WEBHOOK_CACHE_TTL="1",
            MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY=WEBHOOK_ENCRYPTION_KEY,
            GATEKEEPER_WEBHOOK_SECRET=WEBHOOK_SECRET,
            PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            PYTHONUNBUFFERED="1",
        )
        return env

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.root / f"{name}.log", "w")
        proc = subprocess.Popen(
            list(args), cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes[name] = proc
        return proc

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """A command line with the servers' environment; fails with its output."""
        done = subprocess.run(
            list(args), cwd=REPO, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def wait_healthy(self, name: str, url: str, timeout: float = 180) -> None:
        proc = self.processes[name]

        def healthy() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited {proc.returncode}:\n{self.log(name)[-3000:]}")
            return httpx.get(url, timeout=5).status_code == 200

        wait_until(f"{name} healthy at {url}", healthy, timeout)

    def stop(self) -> None:
        from tests.doc_commands import stop_all

        stop_all(list(self.processes.values()), grace=20)

    # ------------------------------------------------------------------ the Prefect REST API

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """One REST call, retried as Prefect's own client retries it: the server answers 503 when
        its SQLite database was busy and the transaction rolled back (seen in CI on a resume
        while the worker was writing), 429 or 502 when it is overloaded; nothing was applied."""
        for attempt in range(API_ATTEMPTS):
            response = httpx.request(method, f"{self.api_url}{path}", timeout=30, **kwargs)
            if response.status_code not in RETRYABLE_STATUS or attempt == API_ATTEMPTS - 1:
                break
            time.sleep(min(2**attempt, 10))
        response.raise_for_status()
        return response.json() if response.content else None


def reader_root(root: Path) -> Path:
    """`root` laid out like the repository's root, for commands the docs run "from the repository's
    root": a copy of prefect.yaml, the folders the commands only read (flows, examples, automations)
    linked in; what the commands write stays here, and nothing written here reaches the repository."""
    shutil.copyfile(REPO / "prefect.yaml", root / "prefect.yaml")
    for name in ("flows", "examples", "automations"):
        (root / name).symlink_to(REPO / name, target_is_directory=True)
    return root


def start_servers(root: Path) -> Servers:
    """The docs' deployment setup (docs/deployments.md, block `servers`), run as written in a folder like
    the repository's root, on free loopback ports: Prefect server, MLflow server, a process work pool,
    the repository's deployments and a worker."""
    from tests.doc_commands import DocScript

    servers = Servers(reader_root(root))
    env = {**servers.env, "PREFECT_SERVER_API_PORT": str(servers.prefect_port)}
    ports = {"4200": str(servers.prefect_port), "5000": str(servers.mlflow_port)}
    script = DocScript("docs/deployments.md", "servers", root, env, replace=ports, logs=root)
    try:
        script.run("export PREFECT_API_URL=")
        script.run("export MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY=")
        script.run("export MLFLOW_WEBHOOK_ALLOWED_SCHEMES=")
        for name, prefix, url in [
            ("prefect-server", "prefect server start", f"{servers.api_url}/health"),
            ("mlflow-server", "mlflow server", f"{servers.mlflow_url}/health"),
        ]:
            servers.processes[name] = script.start(
                prefix, lambda url=url: httpx.get(url, timeout=5).status_code == 200, name=name
            )
        script.run("prefect work-pool create gatekeeper --type process")
        script.run("prefect --no-prompt deploy --all")
        servers.processes["worker"] = script.start(
            "prefect worker start --pool gatekeeper",
            lambda: servers.api("POST", "/work_pools/gatekeeper/workers/filter", json={}),
            name="worker",
        )
        script.finish()
    except BaseException:
        servers.processes.update({f"doc-{i}": p for i, p in enumerate(script.background.values())})
        servers.stop()
        raise
    return servers


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")
