"""The benchmark script keeps working (tiny sizes, no peer); its timings are not asserted here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs the benchmark script in a fresh process

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "segment_comparison.py"


def test_benchmark_runs_and_reports_json() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--rows",
            "20000",
            "--segments",
            "10",
            "--resamples",
            "200",
            "--no-peer",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["job"]["rows"] == 20000
    assert report["ours"]["seconds"] > 0
    assert report["ours"]["peak_traced_mib"] > 0


def test_slice_search_benchmark_runs_and_finds_the_planted_fault() -> None:
    script = SCRIPT.parent / "slice_search.py"
    result = subprocess.run(
        [sys.executable, str(script), "--rows", "20000", "--columns", "12", "--bare-cuts", "3"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["job"] == {"rows": 20000, "columns": 12, "reference_rows": 20000}
    assert [m.split(":")[0] for m in report["ours"]["findings"]] == ["num0 is missing where cat1=v0"]
    assert report["bare_script"]["cuts"] > report["bare_script"]["cuts_timed"] == 3
