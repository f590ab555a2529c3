from __future__ import annotations

import pytest

from gatekeeper.config import GateConfig
from tests.builders import make_config


@pytest.fixture
def config() -> GateConfig:
    return make_config()
