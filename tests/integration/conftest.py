"""One real Prefect API per test session (per xdist worker); a real MLflow sqlite registry per test,
starting from the session's bootstraps (tests/integration/bootstraps.py) where a test needs a champion."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session", autouse=True)
def prefect_api() -> Iterator[None]:
    """The real Prefect engine against a temporary local API server (sqlite)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session", autouse=True)
def _bootstraps(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Where this session's (this xdist worker's) demo bootstraps are kept and copied from."""
    from tests.integration.bootstraps import set_root

    set_root(tmp_path_factory.mktemp("bootstraps"))


@pytest.fixture(autouse=True)
def _no_ambient_mlflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
