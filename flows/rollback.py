"""Roll the champion back to the previous champion, with a trail in MLflow and the Prefect UI."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from gatekeeper.registry import review as registry_review
from gatekeeper.report.markdown import artifact_key
from tasks import gate_task


@gate_task
def move_champion_back(uri: str, model_name: str, reason: str, who: str | None) -> dict[str, Any]:
    """Move `champion` to `previous-champion` and record who and why on both versions."""
    return registry_review.rollback(uri, model_name, reason=reason, who=who)


@gate_task
def publish_rollback(result: dict[str, Any]) -> None:
    """A markdown artifact under the model's rollback key, so the UI keeps the history."""
    create_markdown_artifact(
        key=artifact_key(result["model_name"], "rollback"),
        markdown=(
            f"# {result['model_name']}: ROLLED BACK\n\nVersion **{result['restored']}** is `champion` again; "
            f"version **{result['demoted']}** carries alias `rolled-back`.\n\n- by: {result['by']}\n"
            f"- why: {result['reason']}\n- at: {result['at']}\n"
        ),
        description=f"rolled back to version {result['restored']}",
    )


@flow(name="rollback-champion", flow_run_name="rollback-{model_name}")
def rollback_champion(
    model_name: str, tracking_uri: str, reason: str, who: str | None = None
) -> dict[str, Any]:
    """One alias move back, recorded."""
    result = move_champion_back(tracking_uri, model_name, reason, who)
    publish_rollback(result)
    get_run_logger().info("rolled back %s: version %s is champion again", model_name, result["restored"])
    return result
