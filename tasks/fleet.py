"""A fleet run's own side effects: read the fleet file, list its models, publish the fleet's summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import get_run_logger
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from gatekeeper.config import GateConfig
from gatekeeper.data.shared import read_once
from gatekeeper.data.tables import file_sha256, read_table
from gatekeeper.errors import ConfigError, did_you_mean, redact
from gatekeeper.fleet import FleetFile, listed_configs, load_fleet, per_value_configs, values_to_gate
from gatekeeper.registry import runs
from gatekeeper.report.fleet import FleetResult, fleet_rows, render_fleet_markdown
from gatekeeper.report.markdown import artifact_key
from tasks import gate_task


@gate_task
def read_fleet(path: str) -> tuple[FleetFile, Path]:
    """The fleet file, validated, and the folder its relative paths start from."""
    return load_fleet(path)


@gate_task
def list_models(
    fleet: FleetFile, base: Path, workdir: str | None = None
) -> tuple[list[GateConfig], dict[str, str]]:
    """Every model's GateConfig; for `per_value`, the values found in the data (and those not gated)."""
    logger = get_run_logger()
    overrides: dict[str, Any] = {"workdir": workdir}
    if fleet.fleet.per_value is None:
        configs = listed_configs(fleet, base, **overrides)
        logger.info("fleet %s: %d model(s) listed", fleet.fleet.name, len(configs))
        return configs, {}
    spec = fleet.fleet.per_value
    template = per_value_configs(fleet, base, ["{value}"], **overrides)[0]  # the shared keys, validated
    columns = {}
    for table in ("train", "new_labels"):
        frame, _ = read_once(getattr(template.data, table), read_table, file_sha256)  # read once per run
        if spec.column not in frame.columns:
            raise ConfigError(
                f"`fleet.per_value.column` must name a column of the {table} table "
                f"({getattr(template.data, table)!r}); got {spec.column!r}"
                f"{did_you_mean(spec.column, list(frame.columns))}"
            )
        columns[table] = frame[spec.column].dropna().unique().tolist()
    values, not_gated = values_to_gate(spec, columns["train"], columns["new_labels"])
    configs = per_value_configs(fleet, base, values, **overrides)
    logger.info(
        "fleet %s: one model per %s value: %d gated%s",
        fleet.fleet.name,
        spec.column,
        len(configs),
        f", {len(not_gated)} not gated ({', '.join(sorted(not_gated)[:10])})" if not_gated else "",
    )
    return configs, not_gated


@gate_task
def prepare_registries(configs: list[GateConfig]) -> None:
    """Each registry the fleet writes to, and its experiment, made once before the models run at once."""
    seen = set()
    for config in configs:
        key = (config.resolved_tracking_uri, config.experiment_name)
        if key not in seen:
            seen.add(key)
            runs.prepare_registry(config)


@gate_task
def publish_fleet(result: FleetResult, tracking_uris: list[str]) -> None:
    """The fleet's report and its table of every model's decision (artifacts `fleet-<name>`)."""
    uris = ", ".join(sorted({redact(u) for u in tracking_uris}))
    create_markdown_artifact(
        key=f"fleet-{_key(result.name)}",
        markdown=render_fleet_markdown(result, uris),
        description=result.summary(),
    )
    create_table_artifact(
        key=f"fleet-{_key(result.name)}-models",
        table=fleet_rows(result, uris),
        description=f"fleet {result.name}: every model's decision, what needs a person first",
    )
    get_run_logger().info(result.summary())


class FleetProgress:
    """The fleet run's progress artifact (`fleet-<name>-progress`): models judged out of all, and the
    log's `[k/N] judged <model>: <decision>` lines. A failure to write it is logged, never the run's."""

    def __init__(self, name: str, total: int) -> None:
        self.key, self.total, self.done, self.artifact = f"fleet-{_key(name)}-progress", total, 0, None

    def judged(self, model: str, status: str) -> None:
        self.done += 1
        get_run_logger().info("[%d/%d] judged %s: %s", self.done, self.total, model, status)
        share = 100.0 * self.done / max(1, self.total)
        text = f"{self.done} of {self.total} models judged (last: {model}, {status})"
        try:
            if self.artifact is None:
                self.artifact = create_progress_artifact(share, key=self.key, description=text)
            else:
                update_progress_artifact(self.artifact, share, description=text)
        except Exception as exc:  # the API went away: the fleet goes on
            get_run_logger().warning("progress artifact not updated (%s)", type(exc).__name__)


def _key(name: str) -> str:
    """The fleet's artifact keys: `fleet-<name>` (a model's are `gate-<name>`)."""
    return artifact_key(name).removeprefix("gate-")
