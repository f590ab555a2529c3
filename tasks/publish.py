"""Publish the decision for review in the Prefect UI."""

from __future__ import annotations

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from gatekeeper.config import GateConfig
from gatekeeper.decide.decision import Decision
from gatekeeper.report.markdown import artifact_key, render_markdown, segment_rows
from tasks import gate_task


@gate_task
def publish_for_review(config: GateConfig, decision: Decision, links: dict[str, str]) -> None:
    """A markdown report and a segment table, under keys stable across runs of this model."""
    logger = get_run_logger()
    links = {"MLflow tracking URI": config.resolved_tracking_uri, **links}
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
    rows = segment_rows(decision)
    if rows:
        create_table_artifact(
            key=artifact_key(config.model_name, "segments"),
            table=rows,
            description=f"{config.primary_metric} per segment",
        )
    logger.info("decision: %s", decision.summary())
    for reason in decision.reasons:
        logger.info("  %s", reason.text())
