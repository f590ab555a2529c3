"""Malformed batches through the real flow (issue 14): `blocked` or a clear error, never a promotion,
never a lost batch.

A champion is bootstrapped once (the demo's first run); then hypothesis draws malformed batches from
the unit fuzzer's strategy (`tests/unit/test_fuzz_batches.py`), keeping the ones that are malformed
beyond doubt (a column a blocking check must name, or a file no reader should accept), and runs each
through `retraining_gate` with the real Prefect engine, MLflow sqlite registry and GX suite. Each ends
`blocked`, with the batch's bytes copied to the quarantine folder and the original file still there,
unchanged, or in a one-line `GatekeeperError` naming the file; either way the champion alias stays on
the bootstrapped version. Bounded (10 examples under the `ci` profile, derandomized; 200 under
`--hypothesis-profile=deep`) because each is a flow run; the unit fuzzer draws every fault class. The CLI is
checked on a few as a subprocess: exit code 1, one `gatekeeper run: error:` line naming the file or
field, no traceback on stderr.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, assume, given, settings

from gatekeeper.config import GateConfig
from gatekeeper.demo import simulate
from gatekeeper.demo.scenarios import write_config
from gatekeeper.errors import GatekeeperError
from tests.fuzzing import examples
from tests.integration.bootstraps import bootstrapped
from tests.integration.helpers import aliases, run_gate
from tests.unit.test_fuzz_batches import RAGGED, Batch, malformed_batch

MODEL = "fuzz-flow"
SURELY_UNREADABLE = {"zero-bytes", "garbage", "extension", "ragged"}


@pytest.fixture(scope="module")
def champion(tmp_path_factory: pytest.TempPathFactory) -> GateConfig:
    """The demo's bootstrap run (the session's, copied): champion version 1, and the config later runs
    replace the batch of."""
    workdir = tmp_path_factory.mktemp("fuzz-flow")
    with pytest.MonkeyPatch.context() as env:  # module scope: set up before the autouse fixture
        env.delenv("MLFLOW_TRACKING_URI", raising=False)
        _, config = bootstrapped(MODEL, workdir)
    assert aliases(config)["champion"] == "1"
    return config


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _with_batch(config: GateConfig, path: Path) -> GateConfig:
    return config.model_copy(update={"data": config.data.model_copy(update={"new_labels": str(path)})})


COUNTER = iter(range(10**6))


@settings(
    max_examples=examples(10),  # each a flow run; the unit fuzzer draws every fault class
    phases=[Phase.explicit, Phase.generate],  # no shrinking: each example is a flow run
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(case=malformed_batch())
def test_a_malformed_batch_is_blocked_or_a_clear_error_and_the_champion_stays(
    champion: GateConfig, case: tuple[Batch, str, str, bytes]
) -> None:
    batch, suffix, file_fault, data = case
    assume(batch.must_block or file_fault in SURELY_UNREADABLE)
    path = Path(champion.workdir) / "batches" / f"batch-{next(COUNTER)}{suffix}"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    before = _sha256(path)
    result: dict[str, Any] | None = None
    try:
        result = run_gate(_with_batch(champion, path))
    except GatekeeperError as exc:
        message = str(exc)
        assert "\n" not in message, message
        assert "Traceback" not in message, message
        assert str(path) in message or "`" in message, message
    assert path.exists(), f"the batch {path} was removed"
    assert _sha256(path) == before, f"the batch {path} was changed"
    assert aliases(champion)["champion"] == "1", batch.faults
    if result is not None:
        assert result["decision"] == "blocked", (batch.faults, result["decision"], result["reasons"])
        assert result["quarantine"], result
        copy = Path(result["quarantine"]) / f"new_labels{suffix if '.' in suffix else ''}"
        assert copy.exists(), sorted(p.name for p in Path(result["quarantine"]).iterdir())
        assert _sha256(copy) == before
        blocked = {r.get("column") for r in result["reasons"]}
        if "validation.empty" not in {r["check"] for r in result["reasons"]}:  # no rows: all it says
            assert batch.must_block <= blocked, (batch.faults, result["reasons"])


# ------------------------------------------------------------------ the CLI, as a user runs it


def _gatekeeper(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API", "MLFLOW_TRACKING"))}
    env["PREFECT_HOME"] = str(cwd / "prefect-home")
    exe = shutil.which("gatekeeper")
    cmd = [exe] if exe else [sys.executable, "-c", "import cli; cli.entry()"]
    return subprocess.run(
        [*cmd, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def _config_file(champion: GateConfig, folder: Path, batch: Path | None = None, **edit: Any) -> Path:
    path = write_config(_with_batch(champion, batch) if batch else champion, folder / "gate.yaml")
    raw = yaml.safe_load(path.read_text())
    raw.update(edit)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("fault", "named"),
    [
        ("broken-yaml", "is not valid YAML: line"),
        ("typo", "`segmnets` is not a known key (did you mean 'segments'?)"),
        ("bad-where", "`key_segments[0].where`"),
        ("ragged-csv", "Error tokenizing data"),
        ("binary-batch", "new_labels"),
        ("quarantine-under-a-file", "`quarantine_dir`: "),
    ],
)
def test_the_cli_ends_a_malformed_run_in_one_error_line(
    champion: GateConfig, tmp_path: Path, fault: str, named: str
) -> None:
    batch = None
    if fault == "ragged-csv":
        batch = tmp_path / "ragged.csv"
        batch.write_bytes(RAGGED)
    if fault == "binary-batch":
        batch = tmp_path / "new_labels.parquet"
        batch.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    edit: dict[str, Any] = {}
    if fault == "typo":
        edit = {"segmnets": ["browser"]}
    if fault == "bad-where":
        edit = {"key_segments": [{"max_regression": 0.1}]}
    if fault == "quarantine-under-a-file":  # checked before anything is read: nowhere to keep a block
        (tmp_path / "a-file").write_text("")
        edit = {"quarantine_dir": str(tmp_path / "a-file" / "quarantine")}
    path = _config_file(champion, tmp_path, batch, **edit)
    if fault == "broken-yaml":
        path.write_text(path.read_text() + "segments: [browser\n")
    before = _sha256(batch) if batch else None
    result = _gatekeeper("run", "--config", str(path), "--workdir", champion.workdir, cwd=tmp_path)
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("gatekeeper run: error:")]
    assert len(errors) == 1, result.stderr[-3000:]
    following = result.stderr.split(errors[0], 1)[1].strip()
    assert not following, following  # the error is the last paragraph, and one line
    assert named in errors[0], errors[0]
    if batch is not None:
        assert _sha256(batch) == before
    assert aliases(champion)["champion"] == "1"


# ------------------------------------------------------------------ faults within tolerance


def _minimal_suite(config: GateConfig, folder: Path) -> GateConfig:
    """The config with a suite that checks only that the target exists: nothing bounds `amount`."""
    suite = {
        "name": "minimal",
        "expectations": [{"type": "expect_column_to_exist", "kwargs": {"column": "is_fraud"}}],
    }
    (folder / "minimal.json").write_text(json.dumps(suite))
    names = {"directory": str(folder), "train": "minimal", "new_labels": "minimal", "evaluation": None}
    return config.model_copy(update={"expectations": config.expectations.model_copy(update=names)})


@pytest.mark.parametrize("value", [float("inf"), 1e300], ids=["infinite", "huge"])
def test_a_few_extreme_values_within_tolerance_do_not_crash_the_gate(
    champion: GateConfig, tmp_path: Path, value: float
) -> None:
    """2% of `amount` infinite or huge, and a suite that does not bound it: below
    `max_out_of_range_increase`. Found by this test: the infinite values passed validation and the
    champion's scoring in triage raised scikit-learn's ValueError (a traceback, an 'unexpected error'
    in the CLI); any infinite feature value now blocks (`validation.infinite`). Huge finite values
    are scored and judged, and never promoted here."""
    frame = simulate.transactions(1_000, 11, start_id=50_000)
    frame.loc[frame.index[::50], "amount"] = value
    path = tmp_path / "new_labels.parquet"
    frame.to_parquet(path, index=False)
    config = _minimal_suite(_with_batch(champion, path), tmp_path)
    result = run_gate(config)  # found by fuzzing: infinity reached the champion's scoring (ValueError)
    assert path.exists()
    assert aliases(champion)["champion"] == "1"
    if value == float("inf"):
        assert result["decision"] == "blocked"
        assert [(r["check"], r["column"]) for r in result["reasons"]] == [("validation.infinite", "amount")]
    else:  # huge but finite: the models score it; the gate decides
        assert result["decision"] in ("blocked", "rejected", "not_retrained", "needs_review")


def test_a_blocked_decision_is_recorded_when_its_batch_cannot_be_copied(
    champion: GateConfig, tmp_path: Path
) -> None:
    """The quarantine folder exists, but the model's folder in it is a file: the copy fails after
    the checks blocked. The decision is recorded all the same (blocked, saying where the batch
    stayed), the batch is unchanged, the champion stays."""
    import pandas as pd

    batch = tmp_path / "new_labels.csv"
    frame = (
        pd.read_parquet(champion.data.new_labels)
        if champion.data.new_labels.endswith(".parquet")
        else pd.read_csv(champion.data.new_labels)
    )
    frame[champion.target] = frame[champion.target].iloc[0]  # one class only: blocked
    frame.to_csv(batch, index=False)
    before = _sha256(batch)
    quarantine = tmp_path / "quarantine"
    quarantine.mkdir()
    (quarantine / MODEL).write_text("not a folder")
    config = _with_batch(champion, batch).model_copy(update={"quarantine_dir": str(quarantine)})
    result = run_gate(config)
    assert result["decision"] == "blocked", result["reasons"]
    assert not result["quarantine"]
    failed = [c for c in result["checks"] if c["check"] == "quarantine.failed"]
    assert failed, [c["check"] for c in result["checks"]]
    assert str(batch) in failed[0]["message"]
    assert _sha256(batch) == before
    assert aliases(champion)["champion"] == "1"
