"""The benchmark script keeps working (tiny sizes, no peer); its timings are not asserted here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs the benchmark script in a fresh process

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "segment_comparison.py"


def run_benchmark(script: Path, *args: str) -> dict:
    """The script's JSON report, after checking it exited 0."""
    result = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, check=False, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def test_benchmark_runs_and_reports_json() -> None:
    report = run_benchmark(SCRIPT, "--rows", "20000", "--segments", "10", "--resamples", "200", "--no-peer")
    assert report["job"]["rows"] == 20000
    assert report["ours"]["seconds"] > 0
    assert report["ours"]["peak_traced_mib"] > 0


def test_slice_search_benchmark_runs_and_finds_the_planted_fault() -> None:
    script = SCRIPT.parent / "slice_search.py"
    report = run_benchmark(script, "--rows", "20000", "--columns", "12", "--bare-cuts", "3")
    assert report["job"] == {"rows": 20000, "columns": 12, "reference_rows": 20000}
    assert [m.split(":")[0] for m in report["ours"]["findings"]] == ["num0 is missing where cat1=v0"]
    assert report["bare_script"]["cuts"] > report["bare_script"]["cuts_timed"] == 3


def test_compare_scores_process_benchmark_runs_both_metric_sets() -> None:
    script = SCRIPT.parent / "compare_scores_process.py"
    report = run_benchmark(script, "--rows", "20000", "--segments", "10", "--repeat", "1", "--no-peer")
    assert report["job"]["rows"] == 20000
    assert report["auc"]["metrics"] == ["roc_auc"]
    assert len(report["all"]["metrics"]) == 10
    for name in ("auc", "all"):
        assert report[name]["ours"]["median_seconds"] > 0
        assert report[name]["decision"] in {"promoted", "rejected", "blocked", "needs_review"}


def test_time_ordered_comparison_study_runs_and_blocks_only_dependent_rows() -> None:
    script = SCRIPT.parent / "time_ordered_comparison.py"
    args = ["--replicates", "3", "--rows", "4000", "--resamples", "100", "--truth-rows", "200000"]
    report = run_benchmark(script, *args)
    assert {(r["world"], r["phi"]) for r in report["results"]} == {
        (w, phi) for w in ("numeric", "binary") for phi in (0.0, 0.99, 0.999)
    }
    for r in report["results"]:
        widths = r["median_interval_width"]
        if r["phi"] == 0.0:  # independent rows: one row a block, the same interval
            assert r["median_block_length"] == 1
            assert widths["time blocks"] == widths["rows"]
        else:  # a lasting regime: blocks of many rows, a wider interval
            assert r["median_block_length"] > 8
            assert widths["time blocks"] > 2 * widths["rows"]
