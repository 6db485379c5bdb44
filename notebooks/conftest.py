"""``SMOKE=1 pytest --nbmake notebooks/``: a notebook that runs longer than
its smoke budget fails, so that CI stays quick as notebooks are added."""
import os

import pytest

SMOKE_BUDGET_SECONDS = 60.0


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if (call.when == "call" and report.passed and item.path.suffix == ".ipynb"
            and os.environ.get("SMOKE") == "1" and call.duration > SMOKE_BUDGET_SECONDS):
        report.outcome = "failed"
        report.longrepr = (f"{item.path.name} took {call.duration:.0f} s with SMOKE=1; "
                           f"the budget is {SMOKE_BUDGET_SECONDS:.0f} s")
