"""Shared test settings: hypothesis profiles.

Choose one with ``HYPOTHESIS_PROFILE`` (default ``ci``):

- ``ci``: 200 examples of up to 50 steps per state machine (what CI runs);
- ``dev``: a quick 30 examples, for editing loops and the sanitizer run;
- ``thorough``: 2,000 examples of up to 50 steps.
"""
import os

from hypothesis import HealthCheck, settings

_common = dict(
    deadline=None,
    stateful_step_count=50,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("ci", max_examples=200, derandomize=False, print_blob=True, **_common)
settings.register_profile("dev", max_examples=30, **_common)
settings.register_profile("thorough", max_examples=2000, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
