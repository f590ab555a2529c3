"""What Prefect is told about a decision (`gatekeeper.report.events`): the final state's name, the
run's tags and the event automations match (pure: no Prefect)."""

from __future__ import annotations

import pytest

from gatekeeper.decide.policy import decide
from gatekeeper.report.events import EVENT_PREFIX, decision_event, run_tags, state_name
from gatekeeper.report.review import review_commands
from gatekeeper.vocabulary import DECISIONS, STATE_NAMES
from tests.builders import evidence, make_config


def test_every_decision_has_a_state_name_prefect_shows() -> None:
    assert set(STATE_NAMES) == set(DECISIONS)
    assert len(set(STATE_NAMES.values())) == len(DECISIONS)
    assert all(name.isidentifier() and name[0].isupper() for name in STATE_NAMES.values())


@pytest.mark.parametrize(("beta", "kind"), [((0.80, 0.82, 500), "promoted"), ((0.80, 0.70, 500), "rejected")])
def test_the_event_names_the_decision_the_model_versions_segments_and_masks_passwords(beta, kind) -> None:
    config = make_config()
    decision = decide(evidence(beta=beta, champion_version="3"), config)
    assert decision.decision == kind
    links = {"MLflow tracking URI": "http://gate:s3cret@mlflow.internal:5000"}
    spec = decision_event(decision, links)
    assert spec.event == EVENT_PREFIX + kind
    assert spec.resource["prefect.resource.id"] == f"gatekeeper.model.{config.model_name}"
    assert all(isinstance(v, str) for v in spec.resource.values())
    assert all(isinstance(v, str) for r in spec.related for v in r.values())
    assert spec.payload["state"] == state_name(decision)
    assert "s3cret" not in str(spec.payload)
    assert {r["prefect.resource.role"] for r in spec.related} >= {"champion"}
    if kind == "rejected":
        found = [r for r in spec.related if r["prefect.resource.role"] == "segment-finding"]
        assert [r["prefect.resource.name"] for r in found] == ["browser=chrome-beta"]
    assert run_tags(decision) == [f"decision:{kind}", f"model:{config.model_name}"]
    # a run that waited for review and was answered: its earlier decision tag is replaced, others kept
    earlier = ["decision:needs_review", "gatekeeper", f"model:{config.model_name}"]
    assert run_tags(decision, earlier) == [f"decision:{kind}", "gatekeeper", f"model:{config.model_name}"]


def test_review_commands_name_every_required_flag_and_never_a_password() -> None:
    decision = decide(evidence(), make_config())
    approve, reject = review_commands(decision, "http://gate:s3cret@mlflow:5000")
    assert approve.startswith("gatekeeper approve ")
    assert reject.startswith("gatekeeper reject ")
    for line in (approve, reject):
        assert "--who" in line
        assert "--model" in line
        assert "--version" in line
        assert "s3cret" not in line
        assert "--tracking-uri" not in line
    assert "--tracking-uri sqlite:///m.db" in review_commands(decision, "sqlite:///m.db")[0]
    assert "--tracking-uri 'sqlite:///my models.db'" in review_commands(decision, "sqlite:///my models.db")[0]
    # a database server's password: the command leaves the store to $MLFLOW_TRACKING_URI
    assert "s3cret" not in review_commands(decision, "postgresql://gate:s3cret@db/mlflow")[0]


def test_the_version_description_leads_with_a_reviewers_answer_however_it_was_given() -> None:
    """The UI form's answer is recorded with the decision (record_decision rewrites the description),
    `gatekeeper approve` prepends it: both read the same first line."""
    from dataclasses import replace

    from gatekeeper.findings import Review
    from gatekeeper.registry.runs import version_description
    from gatekeeper.report.review import review_headline

    decision = decide(evidence(), make_config())
    assert version_description(decision).startswith(f"**{decision.decision.upper()}** by the retraining")
    answer = Review("approved", "ana", "beta checked", "2026-12-07T10:00:00+00:00")
    text = version_description(replace(decision, review=answer))
    assert text.startswith("**APPROVED** by ana at 2026-12-07T10:00:00+00:00: beta checked\n\n")
    assert text.split("\n\n", 1)[0] == review_headline(answer)
