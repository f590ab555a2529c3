"""Publish the decision for review in the Prefect UI."""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger
from prefect.artifacts import (
    create_image_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from gatekeeper.config import GateConfig
from gatekeeper.decide.decision import Decision
from gatekeeper.errors import redact
from gatekeeper.report.events import decision_event, run_tags
from gatekeeper.report.markdown import artifact_key, render_markdown, rounded_segment_rows
from tasks import gate_task


@gate_task
def publish_for_review(config: GateConfig, decision: Decision, links: dict[str, str]) -> None:
    """A markdown report and a segment table, under keys stable across runs of this model."""
    logger = get_run_logger()
    links = {"MLflow tracking URI": redact(config.resolved_tracking_uri), **links}
    if decision.candidate_version:
        links.setdefault("model version", f"models:/{config.model_name}/{decision.candidate_version}")
    picture = links.get("segment forest plot", "")
    create_markdown_artifact(
        key=artifact_key(config.model_name),
        markdown=render_markdown(
            decision, links, image=picture if picture.startswith(("http://", "https://")) else None
        ),
        description=decision.summary(),
    )
    if picture.startswith(("http://", "https://")):  # served by the MLflow server: shown in the UI
        create_image_artifact(
            image_url=picture,
            key=artifact_key(config.model_name, "forest-plot"),
            description=f"{config.primary_metric}: candidate - champion per segment, with intervals",
        )
    rows = rounded_segment_rows(decision)
    if rows:
        create_table_artifact(
            key=artifact_key(config.model_name, "segments"),
            table=rows,
            description=f"{config.primary_metric} per segment",
        )
    logger.info("decision: %s", decision.summary())
    for reason in decision.reasons:
        logger.info("  %s", reason.text())


@gate_task
def announce_decision(config: GateConfig, decision: Decision, tag_run: bool = True) -> None:
    """The `gatekeeper.decision.<kind>` event about the model, and the run's `model:` and `decision:`
    tags: what the runs list filters on and automations match (a failure here is logged, never the
    run's: the decision is already recorded). A fleet's run, which decides many models, is not tagged
    with each."""
    from prefect.client.orchestration import get_client
    from prefect.events import emit_event

    logger = get_run_logger()
    links = {"MLflow tracking URI": redact(config.resolved_tracking_uri)}
    if decision.candidate_version:
        links["model version"] = f"models:/{config.model_name}/{decision.candidate_version}"
    spec = decision_event(decision, links)
    try:
        emit_event(event=spec.event, resource=spec.resource, related=spec.related, payload=spec.payload)
        if decision.prefect_flow_run_id and tag_run:
            with get_client(sync_client=True) as client:
                run = client.read_flow_run(decision.prefect_flow_run_id)
                client.update_flow_run(decision.prefect_flow_run_id, tags=run_tags(decision, run.tags))
    except Exception as exc:  # the API went away after the decision was recorded: say so, go on
        logger.warning("could not announce the decision to Prefect (%s): %s", type(exc).__name__, exc)
        return
    logger.info("emitted %s about %s", spec.event, config.model_name)


class GateProgress:
    """The run's progress artifact (`gate-<model>-progress`, on the run's Artifacts tab): the stage the
    gate is in out of `STAGES`, as the log's `[k/7]` lines say. A failure to write it is logged, never
    the run's."""

    STAGES = 7

    def __init__(self, config: GateConfig) -> None:
        self.key = artifact_key(config.model_name, "progress")
        self.artifact: Any = None

    def stage(self, number: int, text: str, *args: Any) -> None:
        get_run_logger().info(f"[{number}/{self.STAGES}] {text}", *args)
        self._set(100.0 * (number - 1) / self.STAGES, f"step {number} of {self.STAGES}: {text % args}")

    def done(self, decision: Decision) -> None:
        self._set(100.0, f"done: {decision.summary()}")

    def _set(self, progress: float, description: str) -> None:
        try:
            if self.artifact is None:
                self.artifact = create_progress_artifact(progress, key=self.key, description=description)
            else:
                update_progress_artifact(self.artifact, progress, description=description)
        except Exception as exc:  # the API went away: the gate goes on
            get_run_logger().warning("progress artifact not updated (%s)", type(exc).__name__)
