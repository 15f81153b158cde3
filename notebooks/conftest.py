"""Notebooks run under nbval with their small, fast settings (each notebook says so in its first cell)."""

import os

os.environ["WORKBENCH_QUICK"] = "1"
