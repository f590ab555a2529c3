"""A password written in `tracking_uri` is never at rest: not in Prefect's stored flow parameters,
not in the error, not in the log (issue 14's audit found it in all three)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gatekeeper.demo import simulate
from gatekeeper.demo.scenarios import demo_config
from gatekeeper.errors import GatekeeperError

SECRET = "s3cr3t-pw"


async def _stored_parameters(flow_run_id: str) -> str:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        run = await client.read_flow_run(flow_run_id)
    return str(run.parameters)


def test_a_password_in_the_tracking_uri_is_not_stored_by_prefect(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from prefect import get_client  # noqa: F401  (the API of the session's harness)

    from flows.retraining_gate import retraining_gate

    config = demo_config("secret-uri", simulate.write_bootstrap(tmp_path / "boot"), tmp_path)
    config = config.model_copy(update={"tracking_uri": f"http://ana:{SECRET}@127.0.0.1:9"})
    state = retraining_gate(config, return_state=True)
    assert state.is_failed()
    with pytest.raises(GatekeeperError) as caught:
        state.result()
    assert SECRET not in str(caught.value)
    assert "ana:***@127.0.0.1:9" in str(caught.value)
    stored = asyncio.run(_stored_parameters(str(state.state_details.flow_run_id)))
    assert "127.0.0.1:9" in stored  # the parameter is there, its password is not
    assert SECRET not in stored
    assert SECRET not in caplog.text
