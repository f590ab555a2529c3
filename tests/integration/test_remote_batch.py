"""A batch read over HTTP: a server hiccup is retried, a missing file is not."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest

from gatekeeper.demo import simulate
from gatekeeper.demo.scenarios import demo_config
from gatekeeper.errors import ConfigError, DataLoadError
from tests.integration.helpers import run_gate


class Flaky(SimpleHTTPRequestHandler):
    """Serves a folder; answers 503 to the first `failures` GETs of each path."""

    failures = 0
    seen: ClassVar[Counter] = Counter()

    def do_GET(self) -> None:
        self.seen[self.path] += 1
        if self.seen[self.path] <= self.failures:
            self.send_error(503, "Service Unavailable")
            return
        super().do_GET()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def batch_server(tmp_path: Path) -> Iterator[tuple[str, type[Flaky]]]:
    handler = type("Handler", (Flaky,), {"failures": 1, "seen": Counter()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(tmp_path / "served")))
    (tmp_path / "served").mkdir()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()


def test_a_transient_503_is_retried_and_the_gate_completes(tmp_path: Path, batch_server) -> None:
    url, handler = batch_server
    files = simulate.write_bootstrap(tmp_path / "boot")
    pd.read_parquet(files.new_labels).to_csv(tmp_path / "served" / "batch.csv", index=False)
    config = demo_config("remote-batch", files, tmp_path)
    config = config.model_copy(
        update={"data": config.data.model_copy(update={"new_labels": f"{url}/batch.csv"})}
    )
    from flows.retraining_gate import retraining_gate

    result = retraining_gate(config)
    assert result.decision == "bootstrap"
    # without the task's retry the first answer, a 503, would have failed the run
    assert handler.seen["/batch.csv"] >= 2


def test_a_missing_remote_batch_is_not_retried(tmp_path: Path, batch_server) -> None:
    url, handler = batch_server
    handler.failures = 0
    config = demo_config("remote-missing", simulate.write_bootstrap(tmp_path / "boot"), tmp_path)
    config = config.model_copy(
        update={"data": config.data.model_copy(update={"new_labels": f"{url}/missing.csv"})}
    )
    with pytest.raises(DataLoadError, match=r"missing\.csv"):
        run_gate(config)
    assert handler.seen["/missing.csv"] == 1


def test_a_batch_from_outside_the_allowed_roots_is_refused_before_it_is_read(
    tmp_path: Path, batch_server
) -> None:
    """An event or --batch naming a loopback URL or a file elsewhere on the machine: refused with the
    location named; the server sees no request, nothing is quarantined. Listed in `allowed_roots`,
    the same URL is read."""
    from flows.retraining_gate import retraining_gate

    url, handler = batch_server
    handler.failures = 0
    files = simulate.write_bootstrap(tmp_path / "boot")
    pd.read_parquet(files.new_labels).to_csv(tmp_path / "served" / "batch.csv", index=False)
    secrets = tmp_path / "elsewhere" / "secrets.csv"
    secrets.parent.mkdir()
    pd.read_parquet(files.new_labels).to_csv(secrets, index=False)
    config = demo_config("outside-roots", files, tmp_path)
    for location in (f"{url}/batch.csv?x=.csv", f"{url}/batch.csv", str(secrets)):
        with pytest.raises(ConfigError, match="outside the allowed roots") as caught:
            retraining_gate(config, new_labels=location)
        assert repr(location) in str(caught.value) or location in str(caught.value)
    assert sum(handler.seen.values()) == 0
    assert not (tmp_path / "quarantine").exists()
    trusted = config.model_copy(
        update={"data": config.data.model_copy(update={"allowed_roots": [f"{url}/"]})}
    )
    assert retraining_gate(trusted, new_labels=f"{url}/batch.csv").decision == "bootstrap"
    assert handler.seen["/batch.csv"] >= 1  # read (and fingerprinted) once allowed


def test_a_link_swapped_after_the_check_is_checked_again_when_read(tmp_path: Path) -> None:
    """The roots are checked when the run starts, and again when the batch is read: a link inside
    the root swapped to a file elsewhere in between (while the gate waited for the model's lock)
    is refused at the read, naming the file it now points at; the config's roots stay its own."""
    from prefect import flow

    from tasks.data import load_tables, read_gate_config

    files = simulate.write_bootstrap(tmp_path / "boot")
    inbox = Path(files.new_labels).parent
    secrets = tmp_path / "elsewhere" / "secrets.parquet"
    secrets.parent.mkdir()
    secrets.write_bytes(Path(files.new_labels).read_bytes())
    link = inbox / "arrived.parquet"
    link.symlink_to(files.new_labels)
    config = demo_config("swapped-link", files, tmp_path)

    @flow
    def check_then_read(swap: bool) -> str:
        checked = read_gate_config(config, new_labels=str(link))
        if swap:  # what a hostile user does while the gate waits for its lock
            target = Path(checked.data.new_labels)
            target.rename(target.with_suffix(".moved"))
            target.symlink_to(secrets)
        return str(load_tables(checked).paths["new_labels"])

    assert check_then_read(False) == str(Path(files.new_labels).resolve())  # inside the root: read
    with pytest.raises(ConfigError, match="outside the allowed roots") as caught:
        check_then_read(True)
    assert "boot" in str(caught.value)  # the roots named are the config's
