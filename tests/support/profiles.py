"""Hypothesis profiles for the property and schemathesis tests.

By default each property runs its own modest number of examples, so the whole suite stays fast
(under CI=true Hypothesis's own "ci" profile also makes the runs deterministic). For a thorough
local run, `HYPOTHESIS_PROFILE=long` gives every property 5,000 examples:

    HYPOTHESIS_PROFILE=long python3 -m pytest tests/server/test_schemathesis.py
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

LONG = "long"
LONG_EXAMPLES = 5_000

settings.register_profile(
    LONG,
    max_examples=LONG_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def load_from_environment() -> None:
    """Load the profile HYPOTHESIS_PROFILE names, if any (or use --hypothesis-profile)."""
    name = os.environ.get("HYPOTHESIS_PROFILE")
    if name:
        settings.load_profile(name)


def examples(count: int) -> int:
    """`count` examples normally; the long profile's count when that profile is loaded."""
    if settings.get_current_profile_name() == LONG:
        long: int = settings.get_profile(LONG).max_examples
        return long
    return count
