from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# Keep test runs quiet and closed: no telemetry, no progress bars.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

# Hypothesis profiles (tests/fuzzing.py scales each test's count by the profile's max_examples):
# - ci (the default, and what CI runs): derandomized, so every run draws the same examples; no
#   example database, so nothing a past run found changes what the next one draws.
# - deep (`pytest --hypothesis-profile=deep`): 20 times the examples, freshly random each run.
settings.register_profile(
    "ci", max_examples=100, derandomize=True, database=None, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip
settings.register_profile(
    "deep", max_examples=2_000, derandomize=False, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.load_profile("ci")  # `--hypothesis-profile` (read after this file) replaces it

# The suite tells on itself: a unit test over SLOW_SECONDS carries `slow` (pyproject's markers).
SLOW_SECONDS = 2.0
_UNMARKED_SLOW: list[tuple[str, float]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Note each unit test over SLOW_SECONDS not marked `slow` (on the xdist controller too: every
    worker's reports pass through it)."""
    if (
        report.when == "call"
        and report.duration > SLOW_SECONDS
        and report.nodeid.startswith("tests/unit/")
        and "slow" not in report.keywords
    ):
        _UNMARKED_SLOW.append((report.nodeid, report.duration))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """List them: a warning, not a failure (a busy machine can make any test slow once)."""
    if _UNMARKED_SLOW:
        terminalreporter.section(f"unit tests over {SLOW_SECONDS:g} s without the `slow` marker")
        for nodeid, seconds in sorted(_UNMARKED_SLOW, key=lambda item: -item[1]):
            terminalreporter.line(f"{seconds:6.1f} s  {nodeid}")
