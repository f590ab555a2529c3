"""needs_review through the real flow, settled from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli import main
from gatekeeper.demo import simulate
from gatekeeper.demo.scenarios import demo_config
from tests.integration.helpers import aliases, mlflow_client, needing_approval, read_artifacts, run_gate


@pytest.fixture(scope="module")
def waiting(tmp_path_factory: pytest.TempPathFactory):
    """Two models whose improved candidate (version 2) waits for a person, each in its own workdir."""
    configs = {}
    for model in ("review-approve", "review-reject"):
        config = needing_approval(tmp_path_factory.mktemp(model), model)
        result = run_gate(config)
        assert result["decision"] == "needs_review"
        configs[model] = config
    return configs


def test_needs_review_keeps_the_champion(waiting) -> None:
    configs = waiting
    config = configs["review-approve"]
    assert aliases(config) == {"champion": "1", "challenger": "2"}
    tags = mlflow_client(config).get_model_version(config.model_name, "2").tags
    assert tags["gate.decision"] == "needs_review"


def test_approve_promotes_and_records_who_and_why(waiting, capsys) -> None:
    config = waiting["review-approve"]
    workdir = Path(config.workdir)
    code = main(
        [
            "approve",
            "--model",
            config.model_name,
            "--version",
            "2",
            "--comment",
            "looks right",
            "--by",
            "ana",
            "--workdir",
            str(workdir),
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert aliases(config) == {"champion": "2", "previous-champion": "1"}
    tags = mlflow_client(config).get_model_version(config.model_name, "2").tags
    assert (tags["gate.review"], tags["gate.reviewer"], tags["gate.review_comment"]) == (
        "approved",
        "ana",
        "looks right",
    )
    assert tags["gate.decision"] == "promoted"
    description = mlflow_client(config).get_model_version(config.model_name, "2").description
    assert description.startswith("**APPROVED** by ana at ")  # the answer first,
    assert "**NEEDS_REVIEW** by the retraining gatekeeper" in description  # above the gate's verdict
    # a settled candidate cannot be settled twice
    argv = [
        "reject",
        "--model",
        config.model_name,
        "--version",
        "2",
        "--who",
        "ana",
        "--workdir",
        str(workdir),
    ]
    assert main(argv) == 1
    assert "was already reviewed (review.json in run" in capsys.readouterr().err


def test_reject_leaves_the_champion_and_keeps_the_candidate(waiting, capsys) -> None:
    config = waiting["review-reject"]
    workdir = Path(config.workdir)
    code = main(
        [
            "reject",
            "--model",
            config.model_name,
            "--version",
            "2",
            "--comment",
            "segment too thin",
            "--who",
            "ben",
            "--workdir",
            str(workdir),
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert aliases(config) == {"champion": "1", "challenger": "2"}
    tags = mlflow_client(config).get_model_version(config.model_name, "2").tags
    assert (tags["gate.review"], tags["gate.decision"]) == ("rejected", "rejected")


def test_unknown_version_is_a_clear_error(waiting, capsys) -> None:
    workdir = Path(waiting["review-reject"].workdir)
    argv = [
        "approve",
        "--model",
        "review-reject",
        "--version",
        "99",
        "--who",
        "ana",
        "--workdir",
        str(workdir),
    ]
    assert main(argv) == 1
    assert "has no version '99'" in capsys.readouterr().err
    assert Path(workdir / "mlflow.db").exists()


@pytest.mark.parametrize(
    ("on_timeout", "decision", "alias_of_2", "review_tag"),
    [("reject", "rejected", "challenger", "rejected"), ("leave_pending", "needs_review", "challenger", None)],
    ids=["timeout-rejects", "timeout-leaves-pending"],
)
def test_unanswered_review_in_the_ui_times_out(
    tmp_path: Path, on_timeout: str, decision: str, alias_of_2: str, review_tag: str | None
) -> None:
    """`wait_in_ui: always` pauses the run for a form; nobody answers within the timeout."""
    model = f"review-timeout-{on_timeout.replace('_', '-')}"
    config = needing_approval(
        tmp_path, model, wait_in_ui="always", timeout_minutes=0.05, on_timeout=on_timeout
    )
    result = run_gate(config)
    assert result["decision"] == decision
    assert aliases(config) == {"champion": "1", alias_of_2: "2"}
    tags = mlflow_client(config).get_model_version(config.model_name, "2").tags
    assert tags.get("gate.review") == review_tag
    if review_tag:
        assert tags["gate.reviewer"] == "gatekeeper (timeout)"
        assert result["reasons"][0]["check"] == "review"
        assert "no answer within 3 s" in result["reasons"][0]["message"]
        artifact = read_artifacts(f"gate-{model}", result["prefect_flow_run_id"])
        assert any("Reviewed: rejected" in a.data for a in artifact)
    else:
        assert result["review"]["outcome"] == "pending"


def test_the_model_lock_is_created_and_released(waiting) -> None:
    """A gate run holds `gatekeeper-model-<name>` (one slot) and gives it back when done."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name("gatekeeper-model-review-approve")
    assert (limit.limit, limit.active_slots, limit.active) == (1, 0, True)


def test_an_answer_from_the_command_line_while_the_run_waits_is_kept(tmp_path: Path) -> None:
    """`gatekeeper approve` settles the version while the flow is paused; the flow then reports it."""
    import threading
    import time

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterName,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )

    model = "review-cli-while-paused"
    config = needing_approval(tmp_path, model, wait_in_ui="always", timeout_minutes=0.3)
    result: dict = {}
    runner = threading.Thread(target=lambda: result.update(run_gate(config)))
    runner.start()
    paused = FlowRunFilter(
        name=FlowRunFilterName(like_=f"gate-{model}-"),
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=["PAUSED"])),
    )
    deadline = time.monotonic() + 300
    with get_client(sync_client=True) as prefect:  # answer only once the run waits (no concurrent writes)
        while not prefect.read_flow_runs(flow_run_filter=paused) and time.monotonic() < deadline:
            time.sleep(0.3)
    argv = ["approve", "--model", model, "--version", "2", "--by", "cli-person", "--workdir", str(tmp_path)]
    assert main([*argv, "--comment", "approved at the terminal"]) == 0
    runner.join(timeout=300)
    assert result["decision"] == "promoted"
    assert result["review"]["reviewer"] == "cli-person"
    assert result["reasons"][0]["message"] == "approved by cli-person: approved at the terminal"
    assert aliases(config) == {"champion": "2", "previous-champion": "1"}


def test_a_gate_that_cannot_get_the_model_lock_fails_and_changes_nothing(tmp_path: Path) -> None:
    """Another run holds the model's slot longer than lock.wait_minutes: a clear error, no trace in MLflow."""
    from prefect.concurrency.sync import concurrency

    from gatekeeper.errors import GateBusyError
    from tasks.lock import ensure_lock, lock_name

    model = "lock-busy"
    config = demo_config(model, simulate.write_bootstrap(tmp_path / "boot"), tmp_path)
    config = config.model_copy(update={"lock": config.lock.model_copy(update={"wait_minutes": 0.05})})
    ensure_lock(lock_name(model))
    with concurrency(lock_name(model), occupy=1, strict=True):
        with pytest.raises(
            GateBusyError, match=r"held gatekeeper-model-lock-busy for more than 0\.05 minutes"
        ):
            run_gate(config)
    assert not (tmp_path / "mlflow.db").exists()  # nothing was loaded, trained or registered


def test_the_next_step_printed_by_a_command_line_run_works_as_printed(
    tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run started from the command line ends NeedsReview (nothing pauses); the terminal prints
    the approve and reject commands, and the approve line, pasted into a shell, promotes."""
    import os
    import subprocess

    from gatekeeper.demo.scenarios import write_config
    from tests.integration.servers import BIN

    config = needing_approval(tmp_path_factory.mktemp("review-pasted"), "review-pasted")
    path = write_config(config, Path(config.workdir) / "gate.yaml")
    assert main(["run", "--config", str(path)]) == 0
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    [approve] = [line for line in lines if line.startswith("gatekeeper approve ")]
    assert any(line.startswith("gatekeeper reject ") for line in lines)
    env = {**os.environ, "USER": "ana", "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-c", approve], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert aliases(config) == {"champion": "2", "previous-champion": "1"}
    tags = mlflow_client(config).get_model_version(config.model_name, "2").tags
    assert (tags["gate.review"], tags["gate.reviewer"]) == ("approved", "ana")
