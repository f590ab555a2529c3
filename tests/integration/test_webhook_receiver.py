"""The webhook receiver as a real process (`gatekeeper webhook serve`) against hostile requests: a
big body is refused without being buffered (401 unsigned, 413 signed), odd numbers are refused with
a 4xx, never a 500. The accepted path (a real mlflow server and prefect server) is in
test_deployments.py."""

from __future__ import annotations

import http.client
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.servers import BIN, free_port, wait_until
from tests.unit.test_webhook import SECRET, headers, payload

pytestmark = pytest.mark.integration

MB = 1024 * 1024


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    """(port, pid) of a receiver gating every model; its Prefect API is never reached (nothing here
    is a valid delivery of a new version)."""
    folder = tmp_path_factory.mktemp("receiver")
    port = free_port()
    env = {**os.environ, "HOOK_SECRET": SECRET, "PREFECT_API_URL": "http://127.0.0.1:9/api"}
    command = [
        str(BIN / "gatekeeper"),
        "webhook",
        "serve",
        "--port",
        str(port),
        "--secret-env",
        "HOOK_SECRET",
    ]
    command += ["--state-dir", str(folder / "state"), "--max-body-bytes", str(64 * 1024)]
    with open(folder / "receiver.log", "wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    try:
        wait_until("the receiver answers /health", lambda: _get(port, "/health") == 200, timeout=60)
        yield port, process.pid
    finally:
        process.terminate()
        process.wait(30)


def _get(port: int, path: str) -> int | None:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", path)
        return connection.getresponse().status
    except OSError:
        return None


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc/<pid>/status")


def _post(port: int, sent: dict[str, str], size: int, chunked: bool = False) -> int:
    """POST `size` bytes in 1 MiB pieces (declared, or chunked); the status, however early it came."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.putrequest("POST", "/mlflow-webhook")
    for name, value in sent.items():
        connection.putheader(name, value)
    connection.putheader(
        "Transfer-Encoding" if chunked else "Content-Length", "chunked" if chunked else str(size)
    )
    connection.endheaders()
    piece = b"x" * MB
    try:
        for _ in range(size // MB):
            connection.send(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
        if chunked:
            connection.send(b"0\r\n\r\n")
    except OSError:  # the receiver answered and closed before the whole body was sent
        pass
    return connection.getresponse().status


def test_a_300_mb_body_is_refused_without_being_read_into_memory(receiver: tuple[int, int]) -> None:
    port, pid = receiver
    before = _peak_rss_mb(pid)
    unsigned = {"Content-Type": "application/json"}
    signed = headers(payload())
    assert _post(port, unsigned, 300 * MB) == 401
    assert _post(port, signed, 300 * MB) == 413  # declared too long
    assert _post(port, headers(payload()), 300 * MB, chunked=True) == 413  # found too long while reading
    grown = _peak_rss_mb(pid) - before
    assert grown < 64, f"the receiver's peak memory grew {grown:.0f} MB for 900 MB of refused bodies"
    assert _get(port, "/health") == 200  # and it still serves


def test_odd_numbers_get_a_4xx_never_a_500(receiver: tuple[int, int]) -> None:
    port, _ = receiver
    body = payload()
    for stamp in ("9" * 400, "³"):
        sent = {**headers(body), "X-MLflow-Timestamp": stamp}
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("POST", "/mlflow-webhook", body=body, headers=sent)
        assert connection.getresponse().status == 401, stamp
    odd = payload(version="³")
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("POST", "/mlflow-webhook", body=odd, headers=headers(odd, delivery=str(uuid.uuid4())))
    assert connection.getresponse().status == 400
