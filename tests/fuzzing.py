"""How many examples a property test draws, by the active Hypothesis profile (tests/conftest.py)."""

from __future__ import annotations

from hypothesis import settings

CI_EXAMPLES = 100  # the `ci` profile's max_examples: the unit of `examples(n)`


def examples(n: int) -> int:
    """`n` examples under the `ci` profile, scaled like the profile (`deep`: 20 times as many)."""
    return max(1, round(n * settings.default.max_examples / CI_EXAMPLES))
