"""Each committed ``results/<name>.json`` is what the current code would make in full mode.

A changed default, loss, model, metric or data generator changes a config hash, the code version or the data
fingerprint, and this test fails until the file is re-made (the command is in the failure message) or the change
is declared as not affecting it (``python -m msa_lib.training.experiments accept <name> --reason "..."``).
"""

from __future__ import annotations

import json

import pytest

from msa_lib.data import load_dataset
from msa_lib.training.experiments import EXPERIMENTS, staleness

from conftest import REPO_ROOT


@pytest.fixture(scope="module")
def synthetic_full():
    return load_dataset(None, quick=False, seed=0)


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_committed_results_file_is_what_the_current_code_makes(name, synthetic_full):
    path = REPO_ROOT / "results" / f"{name}.json"
    if not path.is_file():
        pytest.skip(f"{path} is not committed (the book says how to make it)")
    data = json.loads(path.read_text())
    experiment = EXPERIMENTS[name]
    problems = staleness(name, data, experiment.expected(None if experiment.data else synthetic_full))
    assert problems == [], f"{path.name} is stale: {'; '.join(problems)}. Re-make it: {EXPERIMENTS[name].remake}"
