"""What a person is told about a review: the form's text, the report's lines, the commands (pure)."""

from __future__ import annotations

from gatekeeper.decide.decision import Decision
from gatekeeper.findings import Review


def review_headline(review: Review) -> str:
    """A person's answer as the model version's description leads with it (markdown)."""
    said = f"**{review.outcome.upper()}** by {review.reviewer} at {review.at}"
    return said + (f": {review.comment}" if review.comment else ".")


def review_prompt(decision: Decision) -> str:
    """What the approval form in the Prefect UI says above its fields (markdown)."""
    d = decision
    lines = [
        f"**{d.model_name}: candidate version {d.candidate_version} needs review** "
        f"(champion: version {d.champion_version or 'none'}).",
        "",
        *[f"- {r.text(code=True)}" for r in d.reasons],
        "",
        "The evidence is in this run's artifacts. Approve to make the candidate `champion`; "
        "reject to keep the champion. Both are recorded on the MLflow model version.",
    ]
    return "\n".join(lines)


def review_lines(d: Decision) -> list[str]:
    """The report's lines about a review: who answered, or how to answer (both ways a run can wait)."""
    if d.review and d.review.outcome in ("approved", "rejected"):
        r = d.review
        said = f"**Reviewed: {r.outcome}** by {r.reviewer} at {r.at}"
        return [said + (f": {r.comment}" if r.comment else "."), ""]
    if d.decision == "needs_review":
        pending = f" ({d.review.comment})" if d.review else ""
        approve, reject = review_commands(d)
        return [
            f"**Waiting for a reviewer{pending}.** A run a deployment started is paused (state "
            "`Paused`): open it in the Prefect UI, press **Resume** and answer the form. A run "
            "started from the command line has ended (`NeedsReview`): decide with",
            "",
            "```bash",
            approve,
            reject,
            "```",
            "",
        ]
    return []


def review_commands(d: Decision, tracking_uri: str | None = None) -> tuple[str, str]:
    """`gatekeeper approve` and `reject` for a candidate waiting for review, runnable as printed in a
    POSIX shell (the reviewer is the login name; a tracking URI with a password is left to
    $MLFLOW_TRACKING_URI, never printed)."""
    import shlex

    from gatekeeper.errors import has_credentials

    where = ""
    if tracking_uri and not has_credentials(tracking_uri):
        where = f" --tracking-uri {shlex.quote(tracking_uri)}"
    base = f'--model {shlex.quote(d.model_name)} --version {d.candidate_version}{where} --who "$USER"'
    return (
        f"gatekeeper approve {base} --comment 'why it may replace the champion'",
        f"gatekeeper reject {base} --comment 'why the champion stays'",
    )
