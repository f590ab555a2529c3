"""Retraining gatekeeper: decide whether a retrained model may replace the champion."""

import os
import sys

__version__ = "0.1.0"

# Set (by `cli.api`) while this process's Prefect API is a private server it started itself: like
# Prefect's ephemeral API it lives and dies with the process, so the model lock is not taken on it.
PRIVATE_PREFECT_API = "GATEKEEPER_PRIVATE_PREFECT_API"

# scikit-learn's gradient boosting runs on OpenMP (its bundled libgomp). By default libgomp's
# idle threads spin on a CPU between parallel regions; when the machine is shared (two gate runs
# on one worker, a busy server), spinning threads wait for each other's time slices: a 1 s fit
# took 40-150 s in a Prefect worker's gate run on 2 cores with one core busy, and 1 s with
# PASSIVE, which makes them sleep instead (benchmarks/openmp_contention.py compares both).
# libgomp reads the variable once, when scikit-learn is first imported, so
# this only applies if gatekeeper is imported first (the gate's flows and CLI do). A value the
# user set is kept.
OPENMP_POLICY_PRESET = "OMP_WAIT_POLICY" in os.environ
OPENMP_POLICY_TOO_LATE = not OPENMP_POLICY_PRESET and "sklearn" in sys.modules
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# MLflow prints "View run ... at: <tracking URI>/#/..." when a run ends on a tracking server, with
# any password written in the URI; the gate prints its own links, without credentials
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")


def openmp_policy() -> str:
    """How OpenMP threads wait in this process, for the training log."""
    policy = os.environ["OMP_WAIT_POLICY"]
    if OPENMP_POLICY_PRESET:
        return f"OpenMP wait policy {policy} (OMP_WAIT_POLICY set by you)"
    if OPENMP_POLICY_TOO_LATE:
        return (
            "OpenMP wait policy left at libgomp's default: scikit-learn was imported before gatekeeper; "
            "set OMP_WAIT_POLICY=PASSIVE in the environment for a shared machine"
        )
    return f"OpenMP wait policy {policy} (gatekeeper's default; set OMP_WAIT_POLICY to change)"
