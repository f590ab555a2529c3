"""Say that a batch of labels arrived: record it, then emit `gatekeeper.labels.arrived`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.events import emit_event
from prefect.runtime import flow_run

from gatekeeper.data.tables import file_sha256, read_table
from gatekeeper.report.markdown import artifact_key
from tasks import gate_task
from tasks.data import retry_when_transient_read

LABELS_ARRIVED = "gatekeeper.labels.arrived"


def model_resource_id(model_name: str) -> str:
    """The event resource a deployment's trigger matches: one per model."""
    return f"gatekeeper.model.{model_name}"


@gate_task(retries=2, retry_delay_seconds=5, retry_condition_fn=retry_when_transient_read)
def record_batch(model_name: str, batch: str) -> dict[str, Any]:
    """Read the batch once (it must be a readable table), fingerprint it and keep an artifact."""
    location = batch if "://" in batch else str(Path(batch).resolve())
    frame = read_table(location)
    record = {
        "model": model_name,
        "batch": location,
        "rows": len(frame),
        "columns": [str(c) for c in frame.columns],
        "sha256": file_sha256(location),
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "flow_run_id": str(flow_run.id) if flow_run.id else None,
    }
    create_markdown_artifact(
        key=artifact_key(model_name, "labels"),
        markdown=(
            f"# {model_name}: new labels arrived\n\n- batch: `{location}`\n- rows: {record['rows']}\n"
            f"- columns: {', '.join(record['columns'])}\n- sha256: `{record['sha256']}`\n"
            f"- recorded at: {record['recorded_at']}\n\nEvent `{LABELS_ARRIVED}` on resource "
            f"`{model_resource_id(model_name)}`: deployments triggered by it gate this batch.\n"
        ),
        description=f"{record['rows']} labelled rows for {model_name}",
    )
    return record


@gate_task
def announce_labels(record: dict[str, Any]) -> str | None:
    """Emit the event that triggers the model's gate deployment; return the event id."""
    model = record["model"]
    related = []
    if record.get("flow_run_id"):
        related.append(
            {
                "prefect.resource.id": f"prefect.flow-run.{record['flow_run_id']}",
                "prefect.resource.role": "flow-run",
            }
        )
    event = emit_event(
        event=LABELS_ARRIVED,
        resource={
            "prefect.resource.id": model_resource_id(model),
            "prefect.resource.name": model,
            "gatekeeper.model": model,
        },
        related=related,
        payload={k: record[k] for k in ("model", "batch", "rows", "sha256", "recorded_at")},
    )
    if event is None:
        get_run_logger().warning("events are disabled in this Prefect profile: no event was emitted")
        return None
    get_run_logger().info("emitted %s for %s (event %s)", LABELS_ARRIVED, model, event.id)
    return str(event.id)


def _run_name() -> str:
    model = (flow_run.parameters or {}).get("model_name", "model")
    return f"labels-{model}-{flow_run.scheduled_start_time:%Y-%m-%d-%H%M%S}"


@flow(name="label-arrival", flow_run_name=_run_name)
def label_arrival(model_name: str, batch: str) -> dict[str, Any]:
    """Record a batch of new labels for a model and emit `gatekeeper.labels.arrived`."""
    record = record_batch(model_name, batch)
    return {**record, "event_id": announce_labels(record)}
