"""The README's and the docs' commands, run as written from a folder laid out like the repository's root
(its `examples/` linked in), each in the order a reader meets them (tests/doc_commands.py). The
deployment page's blocks run in tests/integration/test_deployments.py, the demo's in test_cli.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.doc_commands import REPO, DocScript, reader_env


def _reader_folder(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A folder like the repository's root for a reader's shell: the examples, an empty expectations
    folder of their own, no servers configured, a login name."""
    (tmp_path / "examples").symlink_to(REPO / "examples")
    (tmp_path / "expectations").mkdir()
    return tmp_path, reader_env(tmp_path)


def _decision(folder: Path, name: str) -> dict:
    return json.loads((folder / ".gatekeeper" / "decisions" / name).read_text())


def test_the_bank_example_as_the_readme_and_the_docs_tell_it(tmp_path: Path) -> None:
    """README (bootstrap, then a retrain the gate declines), the external-models page (a team's own job
    registers a version; the gate judges it) and the starter-suite page (init-expectations), in one
    reader's folder."""
    folder, env = _reader_folder(tmp_path)

    readme = DocScript("README.md", "bank", folder, env)
    boot = readme.run("gatekeeper run --config examples/bank_marketing/bootstrap.yaml")
    assert "BOOTSTRAP" in boot.stdout
    readme.run("gatekeeper run --config examples/bank_marketing/gate.yaml")
    decision = _decision(folder, "bank-term-deposit.json")
    assert decision["decision"] == "not_retrained"  # what the README says, with its numbers
    assert decision["triage"]["reference"]["overall"] == pytest.approx(0.48, abs=0.005)
    value = decision["triage"]["value"]
    assert (value["expected_gain"], value["ci_high"]) == pytest.approx((0.0, 0.0052), abs=5e-5)
    slices = {w["segment"] for w in decision["warnings"] if w["check"] == "labels.balance"}
    assert {"job=student", "job=retired"} <= slices
    readme.finish()

    external = DocScript("docs/external-models.md", "bank", folder, env)
    registered = external.run("python examples/bank_marketing/own_pipeline.py")
    assert "version 2 (alias challenger)" in registered.stdout, registered.stdout
    external.run("gatekeeper run --config examples/bank_marketing/gate.yaml --candidate")
    judged = _decision(folder, "bank-term-deposit.json")
    assert judged["candidate_source"] == "models:/bank-term-deposit@challenger"
    assert (judged["decision"], judged["candidate_version"], judged["champion_version"]) == (
        "rejected",
        "2",
        "1",
    )
    assert f"{judged['overall']['candidate']:.3f}" == "0.418"  # as the page says
    student = next(s for s in judged["segments"] if s["segment"] == "job=student")
    assert student["status"] == "at_risk"
    external.finish()

    suite = DocScript("docs/expectations.md", "bank", folder, env)
    suite.run("gatekeeper init-expectations --data examples/bank_marketing/data/train.csv.gz")
    learned = json.loads((folder / "expectations" / "bank_starter.json").read_text())
    assert learned["name"] == "bank_starter"
    assert len(learned["expectations"]) > 10
    suite.finish()


def test_review_status_and_rollback_as_the_readme_and_the_docs_tell_it(tmp_path: Path) -> None:
    """README's review example (the sign-off demo, approve, verify), then the review page's status,
    rollback, verify and recover on the same model."""
    folder, env = _reader_folder(tmp_path)
    readme = DocScript("README.md", "review", folder, env)
    demo = readme.run("gatekeeper demo --scenario sign-off")
    assert "NEEDS_REVIEW" in demo.stdout.upper().replace(" ", "_")
    assert "gatekeeper approve --model demo-sign-off --version 2" in demo.stdout  # as the README has it
    readme.run("gatekeeper approve --model demo-sign-off --version 2")
    verify = readme.run("gatekeeper verify --model demo-sign-off")
    assert "approved by" in verify.stdout, verify.stdout
    readme.finish()

    review = DocScript("docs/review.md", "review", folder, env)
    status = review.run("gatekeeper status --model demo-sign-off")
    assert "approved by" in status.stdout, status.stdout
    review.run("gatekeeper rollback --model demo-sign-off")
    verify = review.run("gatekeeper verify --model demo-sign-off")
    assert "version 1" in verify.stdout, verify.stdout
    recover = review.run("gatekeeper recover --model demo-sign-off")
    assert "nothing" in recover.stdout.lower(), recover.stdout
    review.finish()


def test_the_offline_comparison_as_the_docs_tell_it(tmp_path: Path) -> None:
    """compare-scores on the shipped scores, then the same on a Dask LocalCluster: one verdict."""
    folder, env = _reader_folder(tmp_path)
    local = DocScript("docs/compare-scores.md", "offline", folder, env)
    done = local.run("gatekeeper compare-scores --scores examples/shadow_scores/shadow.parquet")
    assert "REJECTED" in done.stdout
    written = json.loads((folder / "out.json").read_text())
    assert written["decision"] == "rejected"
    assert [r["segment"] for r in written["reasons"]] == ["browser=chrome-beta"]  # as the page quotes
    beta = next(s for s in written["segments"] if s["segment"] == "browser=chrome-beta")
    assert f"{beta['delta']:+.4f}" == "-0.0897"
    local.finish()

    dask = DocScript("docs/dask.md", "offline", folder, env)
    on_dask = dask.run("gatekeeper compare-scores --scores examples/shadow_scores/shadow.parquet")
    assert "REJECTED" in on_dask.stdout
    assert "key_segment_regression [browser=chrome-beta]" in on_dask.stdout.replace("\n", " ")
    dask.finish()
