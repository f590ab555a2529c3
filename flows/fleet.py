"""A fleet of models gated in one run: each judged on the task runner, promotions controlled across the
fleet, each decision then applied, recorded and published, and one summary of them all."""

from __future__ import annotations

from typing import Any, cast

from prefect import flow, get_run_logger, unmapped
from prefect.futures import as_completed
from prefect.runtime import flow_run
from prefect.states import Completed
from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner

from flows.retraining_gate import gate_batch, settle_batch
from gatekeeper.config import GateConfig
from gatekeeper.data.shared import shared_reads
from gatekeeper.decide.decision import Decision
from gatekeeper.decide.fleet import control_false_discoveries
from gatekeeper.errors import redact, redact_log_records
from gatekeeper.fleet import FleetCompute, load_fleet
from gatekeeper.report.fleet import FleetResult, ModelOutcome
from tasks import gate_task, stages_inline
from tasks.fleet import FleetProgress, list_models, prepare_registries, publish_fleet, read_fleet
from tasks.lock import model_lock
from tasks.publish import announce_decision
from tasks.registry import run_ended_on_failure

redact_log_records()


def _error(config: GateConfig, exc: BaseException) -> ModelOutcome:
    message = redact(f"{type(exc).__name__}: {exc}")
    get_run_logger().error("%s: the gate failed, nothing was promoted: %s", config.model_name, message)
    return ModelOutcome(config.model_name, error=message)


@gate_task(task_run_name="judge-{config.model_name}")
def judge_model(config: GateConfig, keep_tables_for: str | None = None) -> ModelOutcome:
    """One model's gate up to its decision, inside the model's lock; nothing applied yet. Its stages run
    in this task run (logged here), not as task runs of their own."""
    try:
        with stages_inline(), shared_reads(keep_tables_for), model_lock(config, "judge the new labels"):
            return ModelOutcome(config.model_name, gate_batch(config, settle=False))
    except Exception as exc:  # one model's failure is its own row, never the fleet's
        return _error(config, exc)


@gate_task(task_run_name="settle-{config.model_name}")
def settle_model(config: GateConfig, outcome: ModelOutcome) -> ModelOutcome:
    """Apply the model's decision as the fleet left it (a promotion re-checks that the champion is still
    the one judged against), record and publish it, inside the model's lock."""
    if outcome.decision is None:
        return outcome
    decision = outcome.decision
    try:
        with stages_inline():
            with (
                model_lock(config, "apply the decision"),
                run_ended_on_failure(config, decision.mlflow_run_id or ""),
            ):
                settled = settle_batch(config, decision)
            announce_decision(config, settled, tag_run=False)
        return ModelOutcome(config.model_name, settled)
    except Exception as exc:
        return _error(config, exc)


def _fleet_run_name() -> str:
    parameters = flow_run.parameters or {}
    return f"fleet-{parameters.get('name') or 'models'}-{flow_run.scheduled_start_time:%Y-%m-%d-%H%M%S}"


@flow(name="retraining-fleet", flow_run_name=_fleet_run_name, log_prints=False)
def retraining_fleet(fleet: str, workdir: str | None = None, name: str | None = None) -> FleetResult:
    """Gate every model of the fleet file `fleet` (a path): judge each, control wrong promotions across
    them (false discovery rate), then apply, record and publish each decision; `name` only names the
    run (the fleet's name, as `run_fleet` passes it)."""
    logger = get_run_logger()
    spec, base = read_fleet(fleet)
    # a worker process (or Dask worker) keeps the tables it read for the run's next models
    keep = None if spec.fleet.compute.engine == "threads" else str(flow_run.id)
    with shared_reads():
        configs, not_gated = list_models(spec, base, workdir)
        prepare_registries(configs)
        futures = judge_model.map(configs, keep_tables_for=unmapped(keep))
        progress, by_name = FleetProgress(spec.fleet.name, len(configs)), {}
        for future in as_completed(futures):
            outcome = cast(ModelOutcome, future.result())
            by_name[outcome.model_name] = outcome
            progress.judged(outcome.model_name, outcome.status)
    judged = [by_name[c.model_name] for c in configs]
    decisions, control = control_false_discoveries(
        [o.decision for o in judged], spec.fleet.false_discovery_rate
    )
    logger.info("wrong promotions across the fleet: %s", control.text())
    controlled = [
        o if d is None else ModelOutcome(o.model_name, cast(Decision, d))
        for o, d in zip(judged, decisions, strict=True)
    ]
    settled = [cast(ModelOutcome, f.result()) for f in settle_model.map(configs, controlled)]
    result = FleetResult(spec.fleet.name, settled, control, not_gated)
    publish_fleet(result, [c.resolved_tracking_uri for c in configs])
    return cast(FleetResult, Completed(name=result.state_name(), message=result.summary(), data=result))


def task_runner_for(compute: FleetCompute) -> Any:
    """Threads of this process, worker processes on this machine (spawned: they reach the same Prefect
    API through the environment), or prefect-dask's DaskTaskRunner on a scheduler or a LocalCluster."""
    if compute.engine == "threads":
        return ThreadPoolTaskRunner(max_workers=compute.max_parallel)
    if compute.engine == "processes":
        return ProcessPoolTaskRunner(max_workers=compute.max_parallel)
    from prefect_dask import DaskTaskRunner

    if compute.address:
        return DaskTaskRunner(address=compute.address)
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": compute.n_workers,
            "threads_per_worker": compute.threads_per_worker,
            "memory_limit": compute.memory_limit,
            "processes": True,
            "dashboard_address": None,
        },
    )


def run_fleet(path: str, workdir: str | None = None) -> FleetResult:
    """The fleet flow on the task runner its file names."""
    spec, _ = load_fleet(path)
    runner = task_runner_for(spec.fleet.compute)
    return retraining_fleet.with_options(task_runner=runner)(path, workdir, spec.fleet.name)
