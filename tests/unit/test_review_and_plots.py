"""The reviewer's view: review lines in the report, the form's prompt, the forest plot, web links."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest

from gatekeeper.config import parse_config
from gatekeeper.data.tables import is_transient_read
from gatekeeper.decide import Evidence, decide
from gatekeeper.errors import ConfigError, DataLoadError
from gatekeeper.findings import Review
from gatekeeper.registry.runs import web_links
from gatekeeper.report.markdown import render_markdown, review_prompt
from gatekeeper.report.plots import forest_plot
from tests.unit.test_policy import evidence


def test_needs_review_report_says_how_to_answer(config) -> None:
    decision = decide(evidence(), config.model_copy(update={"require_approval": True}))
    assert decision.decision == "needs_review"
    md = render_markdown(decision)
    assert "**Waiting for a reviewer.**" in md
    assert f"--model fraud-detector --version {decision.candidate_version}" in md
    prompt = review_prompt(decision)
    assert prompt.startswith(
        f"**fraud-detector: candidate version {decision.candidate_version} needs review**"
    )
    assert "`approval_required`" in prompt


def test_a_settled_review_leads_the_report(config) -> None:
    decision = decide(evidence(), config.model_copy(update={"require_approval": True}))
    review = Review("approved", "ana", "beta is fine", "2026-11-23T10:00:00")
    md = render_markdown(replace(decision, decision="promoted", review=review))
    assert md.splitlines()[4] == "**Reviewed: approved** by ana at 2026-11-23T10:00:00: beta is fine"
    assert "Waiting for a reviewer" not in md


def test_the_report_embeds_the_forest_plot_only_when_given(config) -> None:
    decision = decide(evidence(), config)
    assert "![segment forest plot" not in render_markdown(decision)
    md = render_markdown(decision, image="http://mlflow:5000/get-artifact?path=segment_forest.png&run_uuid=r")
    assert "![segment forest plot: delta and interval per segment](http://mlflow:5000/get-artifact" in md


def test_forest_plot_is_a_png_with_one_row_per_judged_segment(config) -> None:
    from matplotlib.image import imread

    decision = decide(evidence(beta=(0.88, 0.81, 240)), config)
    picture = forest_plot(decision)
    assert picture is not None
    assert picture.startswith(b"\x89PNG")
    height, width, _ = imread(io.BytesIO(picture)).shape
    assert width > 700
    assert height > 150


def test_no_forest_plot_without_a_comparison(config) -> None:
    assert forest_plot(decide(Evidence("m", "roc_auc", quarantine="/q"), config)) is None


def test_web_links_only_for_an_mlflow_server() -> None:
    assert web_links("sqlite:////tmp/m.db", "1", "abc", "m", "2") == {}
    links = web_links("http://127.0.0.1:5000/", "1", "abc", "m", "2")
    assert links == {
        "MLflow run": "http://127.0.0.1:5000/#/experiments/1/runs/abc",
        "segment forest plot": "http://127.0.0.1:5000/get-artifact?path=segment_forest.png&run_uuid=abc",
        "MLflow model version": "http://127.0.0.1:5000/#/models/m/versions/2",
    }


def _load_error(cause: BaseException) -> DataLoadError:
    try:
        raise DataLoadError("could not read") from cause
    except DataLoadError as exc:
        return exc


@pytest.mark.parametrize(
    ("cause", "transient"),
    [
        (ConnectionResetError("reset by peer"), True),
        (TimeoutError("read timed out"), True),
        (OSError("HTTP 503 Service Unavailable"), True),
        (OSError("Disk quota exceeded"), False),
        (RuntimeError("ClientError: server disconnected"), True),
        (FileNotFoundError("s3://b/k"), False),
        (ValueError("Error tokenizing data"), False),
    ],
    ids=["connection", "timeout", "http-503", "disk", "aiohttp", "missing", "malformed"],
)
def test_only_transient_reads_are_retried(cause: BaseException, transient: bool) -> None:
    assert is_transient_read(_load_error(cause)) is transient
    assert is_transient_read(ConfigError("bad")) is False


def test_review_and_lock_settings_are_checked(config) -> None:
    raw = config.model_dump(mode="json")
    assert parse_config({**raw, "review": {"timeout_minutes": 5}}).review.on_timeout == "reject"
    with pytest.raises(ConfigError, match=r"review\.on_timeout"):
        parse_config({**raw, "review": {"on_timeout": "approve"}})
    with pytest.raises(ConfigError, match=r"lock\.wait_minutes"):
        parse_config({**raw, "lock": {"wait_minutes": 0}})
