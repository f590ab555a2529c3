"""Prefect tasks: each one side effect at the I/O boundary of the gate."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from prefect import Task
from prefect.cache_policies import NO_CACHE

_INLINE: ContextVar[bool] = ContextVar("gatekeeper_stages_inline", default=False)


class GateTask(Task):  # type: ignore[type-arg]
    """A Prefect task that, inside `stages_inline()`, runs as a call of its function in the calling task
    run (its logs go there), with its own retry policy kept: no task run of its own."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not _INLINE.get():
            return super().__call__(*args, **kwargs)
        return self._inline(*args, **kwargs)

    def _inline(self, *args: Any, **kwargs: Any) -> Any:
        from prefect.states import Failed

        attempt = 0
        while True:
            try:
                return self.fn(*args, **kwargs)
            except Exception as exc:
                if attempt >= (self.retries or 0):
                    raise
                condition = self.retry_condition_fn
                if condition is not None and not condition(self, None, Failed(data=exc)):
                    raise
                delays = self.retry_delay_seconds
                delay = delays[min(attempt, len(delays) - 1)] if isinstance(delays, list) else delays
                time.sleep(float(delay or 0))
                attempt += 1


@contextmanager
def stages_inline() -> Iterator[None]:
    """Within this block (in this thread or task), the gate's tasks run as calls in the current task run:
    a fleet's model is two task runs (judged, settled), not one per stage (about 20 ms of the Prefect
    server's time each, and thousands of rows in one run's graph for a large fleet)."""
    token = _INLINE.set(True)
    try:
        yield
    finally:
        _INLINE.reset(token)


def in_fleet() -> bool:
    """Inside `stages_inline()`: a fleet's model, whose neighbours already run side by side."""
    return _INLINE.get()


def gate_task(fn=None, **kwargs):
    """A Prefect task with the gate's defaults: no input caching (inputs are large tables)."""
    kwargs.setdefault("cache_policy", NO_CACHE)
    if fn is None:
        return lambda f: GateTask(f, **kwargs)
    return GateTask(fn, **kwargs)


def retry_if(is_transient: Callable[[BaseException], bool]) -> Callable[[Any, Any, Any], bool]:
    """A `retry_condition_fn` that retries only when the task's exception passes `is_transient`."""

    def condition(task: Any, task_run: Any, state: Any) -> bool:
        try:
            state.result()
        except Exception as exc:
            return is_transient(exc)
        return False

    return condition
