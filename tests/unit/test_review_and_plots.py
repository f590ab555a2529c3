"""The reviewer's view: review lines in the report, the form's prompt, the forest plot, web links."""

from __future__ import annotations

import struct
from dataclasses import replace

import pytest

from gatekeeper.config import parse_config
from gatekeeper.data.tables import is_transient_read
from gatekeeper.decide import Evidence, decide
from gatekeeper.errors import ConfigError, DataLoadError
from gatekeeper.findings import Review
from gatekeeper.registry.runs import web_links
from gatekeeper.report.markdown import render_markdown
from gatekeeper.report.plots import MAX_ROWS, forest_plot, plotted_segments
from gatekeeper.report.review import review_prompt
from tests.builders import BETA, evidence, seg


def test_needs_review_report_says_how_to_answer(config) -> None:
    decision = decide(evidence(), config.model_copy(update={"require_approval": True}))
    assert decision.decision == "needs_review"
    md = render_markdown(decision)
    assert "**Waiting for a reviewer.**" in md
    assert f"--model fraud-detector --version {decision.candidate_version}" in md
    assert '--who "$USER"' in md  # the required flag, so the command runs as printed
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


def _png_height(picture: bytes) -> int:
    """Pixel height from the PNG's IHDR chunk (bytes 20-24)."""
    assert picture.startswith(b"\x89PNG\r\n\x1a\n")
    return int(struct.unpack(">I", picture[20:24])[0])


def _plot_height(rows: int) -> int:
    """forest_plot's figure: 1.2 + 0.32 inches a row at 110 dpi."""
    return round((1.2 + 0.32 * rows) * 110)


def test_forest_plot_shows_every_segment_when_few(config) -> None:
    decision = decide(evidence(beta=(0.88, 0.81, 240)), config)
    shown = plotted_segments(decision)
    assert [r.segment for r in shown] == ["overall", BETA, "browser=chrome"]
    picture = forest_plot(decision)
    assert picture is not None
    assert abs(_png_height(picture) - _plot_height(3)) <= 1
    assert abs(_png_height(picture) - _plot_height(4)) > 30  # one row more would show


def test_forest_plot_keeps_the_largest_changes_worst_first_and_stops_at_max_rows(config) -> None:
    deltas = [(-1) ** i * 0.001 * i for i in range(1, 61)]  # 60 judged segments, alternating sign
    judged = [seg(f"browser=s{i:02d}", 0.80, 0.80 + d, 2000) for i, d in enumerate(deltas)]
    thin = [seg(f"browser=t{i}", 0.80, 0.79, 50) for i in range(3)]  # below min_segment_rows
    ev = replace(evidence(), segments=[*judged, *thin, *evidence().key_segments])
    decision = decide(ev, config)
    shown = plotted_segments(decision)
    assert len(shown) == MAX_ROWS
    assert [r.segment for r in shown[:2]] == ["overall", BETA]
    rest = shown[2:]
    largest = sorted(
        (s for s in decision.segments if s.segment.startswith("browser=s")), key=lambda s: -abs(s.delta)
    )
    assert {r.segment for r in rest} == {s.segment for s in largest[: MAX_ROWS - 2]}
    assert [r.delta for r in rest] == sorted(r.delta for r in rest)  # worst (most negative) first
    assert not any(r.segment.startswith("browser=t") for r in shown)  # thin ones only if room is left
    picture = forest_plot(decision)
    assert picture is not None
    assert abs(_png_height(picture) - _plot_height(MAX_ROWS)) <= 1


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
