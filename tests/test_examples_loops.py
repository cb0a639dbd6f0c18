"""Smoke tests of the two examples/ scripts that tests/test_examples.py leaves to this file (see there)."""

from __future__ import annotations

import pytest
from test_examples import check_example_runs_and_writes_attributions

THERE = ("custom_monitor.py", "custom_training_loop.py")


@pytest.mark.large
@pytest.mark.parametrize("script", THERE)
def test_example_runs_and_writes_attributions(script, tmp_path, tiny_minilm_folder):
    check_example_runs_and_writes_attributions(script, tmp_path, tiny_minilm_folder)
