"""Notebooks run under nbval with their small, fast settings (each notebook says so in its first cell).

Their runs go to a run folder of this test session ($WORKBENCH_RUNS, which the tutorials read first), not to the
repository's runs/, where the dashboard would show them among a teacher's own.
"""

import atexit
import os
import shutil
import tempfile

os.environ["WORKBENCH_QUICK"] = "1"
os.environ["WORKBENCH_RUNS"] = tempfile.mkdtemp(prefix="workbench-tutorial-runs-")
atexit.register(shutil.rmtree, os.environ["WORKBENCH_RUNS"], ignore_errors=True)
