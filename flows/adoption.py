"""Adopt a model version the gate did not promote: measure it on the evaluation rows, record that as its
reference in the registry, so triage compares against it from the next gate run on."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from gatekeeper.config import GateConfig
from gatekeeper.errors import DataValidationError
from tasks.compute import compute_engine
from tasks.data import load_tables, read_gate_config, validate_tables
from tasks.lock import model_lock
from tasks.registry import adopt_champion, load_model_version


def _run_name() -> str:
    from prefect.runtime import flow_run

    from flows.retraining_gate import run_name_of

    return f"adopt-{run_name_of(flow_run.parameters or {})}"


@flow(name="adopt-champion", flow_run_name=_run_name, log_prints=False)
def adopt(
    config: GateConfig | str, version: str | None = None, model_name: str | None = None
) -> dict[str, Any]:
    """Adopt `version` (default: the champion) of the config's model on its evaluation rows.

    The evaluation data is validated first: a reference measured on data the suites block would
    mislead every later triage, so a blocked table stops the adoption (nothing is recorded).
    """
    config = read_gate_config(config, model_name=model_name)
    logger = get_run_logger()
    with model_lock(config, "adopt the champion"), compute_engine(config):
        tables = load_tables(config)
        blocking = [c for c in validate_tables(config, tables) if c.effect == "block"]
        if blocking:
            raise DataValidationError(
                f"not adopting {config.model_name}: the data fails {len(blocking)} blocking check(s), first "
                f"{blocking[0].check} ({blocking[0].message}); fix the data or the suite, then adopt again"
            )
        model = load_model_version(config, tables, version)
        adopted = adopt_champion(config, tables, model)
    reference = adopted.reference
    if adopted.record != "adopted" or reference is None:
        raise DataValidationError(
            f"not adopting {config.model_name} version {model.version}: {config.primary_metric} is undefined "
            "on the evaluation rows (one class only?)"
        )
    logger.info("adopted %s version %s", config.model_name, adopted.version)
    return {
        "model_name": config.model_name,
        "version": adopted.version,
        "flavor": adopted.flavor,
        "metric": reference.metric,
        "overall": reference.overall,
        "segments": dict(reference.segments),
        "rows": tables.n_evaluation,
    }
