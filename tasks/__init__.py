"""Prefect tasks: each one side effect at the I/O boundary of the gate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE


def gate_task(fn=None, **kwargs):
    """A Prefect task with the gate's defaults: no input caching (inputs are large tables)."""
    kwargs.setdefault("cache_policy", NO_CACHE)
    if fn is None:
        return lambda f: task(f, **kwargs)
    return task(fn, **kwargs)


def retry_if(is_transient: Callable[[BaseException], bool]) -> Callable[[Any, Any, Any], bool]:
    """A `retry_condition_fn` that retries only when the task's exception passes `is_transient`."""

    def condition(task: Any, task_run: Any, state: Any) -> bool:
        try:
            state.result()
        except Exception as exc:
            return is_transient(exc)
        return False

    return condition
