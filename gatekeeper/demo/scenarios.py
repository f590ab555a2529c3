"""The demo's configuration: a gate over the simulated fraud transactions."""

from __future__ import annotations

from pathlib import Path

import yaml

from gatekeeper.config import GateConfig, parse_config
from gatekeeper.demo.simulate import SCENARIO_SETTINGS, SCENARIO_TRAINER, ScenarioFiles
from gatekeeper.demo.worlds import WORLD_SETTINGS, WORLD_SUITES
from gatekeeper.errors import ConfigError

DEMO_SUITE = "demo_transactions"


def expectations_dir() -> Path:
    """The repository's expectations/ folder (installed with `pip install -e .`)."""
    folder = Path(__file__).resolve().parents[2] / "expectations"
    if not all((folder / f"{suite}.json").exists() for suite in (DEMO_SUITE, *WORLD_SUITES.values())):
        raise ConfigError(
            f"the demo's suites {[DEMO_SUITE, *WORLD_SUITES.values()]} were not found in {str(folder)!r}; "
            "install the project from its repository with `pip install -e .`"
        )
    return folder


def demo_config(
    model_name: str, files: ScenarioFiles, workdir: Path, scenario: str | None = None
) -> GateConfig:
    raw = {
        "model_name": model_name,
        "target": "is_fraud",
        "id_columns": ["transaction_id"],
        "data": {
            "train": str(files.train),
            "new_labels": str(files.new_labels),
            "evaluation": str(files.evaluation),
        },
        "expectations": {
            "directory": str(expectations_dir()),
            "train": DEMO_SUITE,
            "new_labels": DEMO_SUITE,
            "evaluation": DEMO_SUITE,
        },
        "segments": ["browser", "country", ["browser", "device"]],
        "key_segments": [{"where": {"browser": "chrome-beta"}, "max_regression": 0.01}],
        "primary_metric": "roc_auc",
        "secondary_metrics": ["log_loss", "accuracy"],
        "min_improvement": 0.002,
        "min_segment_rows": 200,
        "workdir": str(workdir.resolve()),
    }
    if scenario in SCENARIO_TRAINER:
        raw["trainer"] = SCENARIO_TRAINER[scenario]
    raw.update(SCENARIO_SETTINGS.get(scenario or "", {}))
    raw.update(WORLD_SETTINGS.get(scenario or "", {}))
    suite = WORLD_SUITES.get(scenario or "")
    if suite is not None:
        expectations = dict(raw["expectations"])  # type: ignore[call-overload]
        raw["expectations"] = expectations | {"train": suite, "new_labels": suite, "evaluation": suite}
    return parse_config(raw, source="demo")


def write_config(config: GateConfig, path: Path) -> Path:
    """Save the config so `gatekeeper run --config` can repeat the run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = config.model_dump(mode="json", exclude_defaults=True)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path
