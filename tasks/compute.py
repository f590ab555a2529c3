"""Where the evaluation rows are computed: this process, or a Dask cluster for the run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prefect import get_run_logger

from gatekeeper.config import GateConfig


@contextmanager
def compute_engine(config: GateConfig) -> Iterator[None]:
    """With `compute.engine: dask`, a `distributed.Client` for the run (the default client of every
    Dask computation inside it): on the scheduler at `compute.address`, or on a LocalCluster of
    `compute.n_workers` workers started now and closed afterwards. Nothing for engine local."""
    if config.compute.engine != "dask":
        yield
        return
    from gatekeeper.decide.on_dask import DaskCompute, dask_client

    c = config.compute
    with dask_client(DaskCompute(c.address, c.n_workers, c.memory_limit)) as client:
        workers = client.scheduler_info().get("workers", {})
        get_run_logger().info(
            "engine dask: scheduler %s, %d worker(s)%s",
            client.scheduler_info().get("address"),
            len(workers),
            "" if c.address else f" of a LocalCluster ({c.memory_limit} each)",
        )
        yield
