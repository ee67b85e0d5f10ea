"""Shared fixtures of the Python module's tests.

CTest (tests/CMakeLists.txt) runs them with PYTHONPATH set to the build tree's
package, FOVEA_GOLDEN_DIR (the parity cases, ../shared/golden) and
FOVEA_BINARY (the `fovea` command). Tests that need one of these skip
without it.
"""
import json
import os

import numpy as np
import pytest
import torch

import fovea


def _golden_dir():
    return os.environ.get("FOVEA_GOLDEN_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "golden"))


@pytest.fixture(scope="session")
def golden():
    """A function: golden("case/file") -> its path; skips when the parity cases are absent."""
    root = _golden_dir()
    if not os.path.isdir(root):
        pytest.skip(f"no parity cases at {root}")
    return lambda relative: os.path.join(root, relative)


@pytest.fixture(scope="session")
def golden_json(golden):
    with open(golden("golden.json")) as f:
        return json.load(f)


@pytest.fixture(scope="session")
def fovea_binary():
    path = os.environ.get("FOVEA_BINARY", "")
    if not path or not os.path.exists(path):
        pytest.skip("the fovea command is not built (FOVEA_BINARY)")
    return path


@pytest.fixture()
def retina_model(golden):
    """openretina's default model (two sessions), from the golden training checkpoint."""
    return fovea.load_model(golden("openretina_core_readout/checkpoint.ckpt"))


@pytest.fixture()
def v1_model(golden):
    """minimodel's 16-320 full model (24 neurons), from the golden state dict."""
    return fovea.load_model(golden("minimodel_full/state_dict.pt"))

