"""Prefect tasks: each one side effect at the I/O boundary of the gate."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE


def gate_task(fn=None, **kwargs):
    """A Prefect task with the gate's defaults: no input caching (inputs are large tables)."""
    kwargs.setdefault("cache_policy", NO_CACHE)
    if fn is None:
        return lambda f: task(f, **kwargs)
    return task(fn, **kwargs)
