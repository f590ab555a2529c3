"""gatekeeper makes OpenMP threads sleep, not spin, unless the user chose otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # fresh Python processes importing scikit-learn

REPORT = "import os, gatekeeper; print(os.environ['OMP_WAIT_POLICY']); print(gatekeeper.openmp_policy())"


def python(code: str, **env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    done = subprocess.run(
        [sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True, check=True
    )
    return done.stdout.splitlines()


def test_importing_gatekeeper_sets_passive_when_the_user_did_not() -> None:
    policy, note = python(REPORT)
    assert policy == "PASSIVE"
    assert "gatekeeper's default" in note


def test_a_policy_the_user_set_is_kept() -> None:
    policy, note = python(REPORT, OMP_WAIT_POLICY="ACTIVE")
    assert policy == "ACTIVE"
    assert "set by you" in note


def test_too_late_when_scikit_learn_came_first_is_said() -> None:
    _policy, note = python("import sklearn; " + REPORT)
    assert "scikit-learn was imported before gatekeeper" in note
