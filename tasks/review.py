"""A person's answer to a `needs_review` decision: a form in the Prefect UI, recorded in MLflow."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.runtime import deployment, flow_run
from prefect.states import Running
from pydantic import Field

from gatekeeper.config import GateConfig
from gatekeeper.decide.decision import Decision, Reason
from gatekeeper.findings import Review
from gatekeeper.registry import review as registry_review
from gatekeeper.report.review import review_prompt
from tasks import gate_task
from tasks.registry import REMOTE_RETRIES

REVIEW_PAUSE_KEY = "gatekeeper-review"


class ReviewAnswer(RunInput):
    """The reviewer's form: approve or reject the candidate, and why."""

    decision: Literal["approve", "reject"] = Field(
        description="approve: the candidate becomes champion; reject: the champion stays"
    )
    comment: str = Field(default="", description="why (recorded on the MLflow model version)")
    reviewer: str = Field(
        min_length=1, pattern=r"\S", description="your name (required; recorded with the answer)"
    )


def waits_for_review(config: GateConfig, decision: Decision) -> bool:
    """Pause for a person only when one can answer: in a deployment's run, or when told to."""
    if decision.decision != "needs_review" or decision.candidate_version is None:
        return False
    if config.review.wait_in_ui == "auto":
        return deployment.id is not None
    return config.review.wait_in_ui == "always"


def ask_reviewer(config: GateConfig, decision: Decision) -> dict[str, Any]:
    """Pause the flow run with an approve / reject form; an unanswered form times out."""
    logger = get_run_logger()
    timeout = max(1, round(config.review.timeout_minutes * 60))
    logger.info(
        "waiting up to %s for a reviewer: open this flow run in the Prefect UI and press Resume, "
        "or answer with `gatekeeper approve|reject --model %s --version %s`",
        _duration(timeout),
        config.model_name,
        decision.candidate_version,
    )
    form = ReviewAnswer.with_initial_data(description=review_prompt(decision))
    try:
        answer = pause_flow_run(
            wait_for_input=form,
            timeout=timeout,
            poll_interval=min(10, max(1, timeout // 10)),
            key=REVIEW_PAUSE_KEY,
        )
    except FlowPauseTimeout:
        # the run is still Paused on the server: move it back to Running so it can finish
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(
                flow_run.id, Running(message="review timed out: resumed by the gate"), force=True
            )
        logger.warning("no answer within %s: %s", _duration(timeout), config.review.on_timeout)
        return {"outcome": "timeout", "after_seconds": timeout}
    return {
        "outcome": "approved" if answer.decision == "approve" else "rejected",
        "comment": answer.comment,
        "reviewer": answer.reviewer.strip(),
    }


def _duration(seconds: int) -> str:
    return (
        f"{seconds / 3600:g} h"
        if seconds >= 3600
        else f"{seconds / 60:g} min"
        if seconds >= 60
        else f"{seconds} s"
    )


@gate_task(**REMOTE_RETRIES)
def settle_review(config: GateConfig, decision: Decision, answer: dict[str, Any]) -> Decision:
    """Record the answer on the model version (promoting on approval) and in the decision."""
    logger = get_run_logger()
    uri, version = config.resolved_tracking_uri, str(decision.candidate_version)
    earlier = registry_review.review_of(uri, config.model_name, version)
    if earlier is not None:  # settled from the command line while this run waited
        logger.warning(
            "version %s was already %s by %s; this run's answer (%s) is not applied",
            version,
            earlier.outcome,
            earlier.reviewer,
            answer["outcome"],
        )
        return _reviewed(decision, earlier)
    outcome = answer["outcome"]
    if outcome == "timeout" and config.review.on_timeout == "leave_pending":
        review = Review("pending", comment=f"no answer within {_duration(answer['after_seconds'])}")
        logger.info("the candidate stays `needs_review`: settle it with `gatekeeper approve|reject`")
        return replace(decision, review=review)
    approve = outcome == "approved"
    comment = answer.get("comment", "")
    reviewer = str(answer.get("reviewer") or "")
    if outcome == "timeout":
        reviewer = "gatekeeper (timeout)"
        comment = f"no answer within {_duration(answer['after_seconds'])}: rejected (review.on_timeout)"
    said, review = registry_review.settle_review(
        uri,
        config.model_name,
        version,
        approve=approve,
        comment=comment,
        reviewer=reviewer,
        automatic=outcome == "timeout",
    )
    logger.info("%s: %s", config.model_name, said)
    return _reviewed(decision, review)


def _reviewed(decision: Decision, review: Review) -> Decision:
    """The decision after a person's answer: promoted or rejected, the answer as its first reason."""
    comment = review.comment
    reason = Reason(
        "review", None, f"{review.outcome} by {review.reviewer}" + (f": {comment}" if comment else "")
    )
    return replace(
        decision,
        decision="promoted" if review.outcome == "approved" else "rejected",
        reasons=[reason, *decision.reasons],
        review=review,
    )
