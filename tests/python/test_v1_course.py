"""examples/python/v1_course.py: the V1 course's main path (seed 004) on
simulated data through fovea's workflows, run as a user would import it."""
import importlib.util
import os

import numpy as np
import pytest

import fovea

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "python", "v1_course.py")


def test_the_v1_course_walks_from_data_to_top_images(tmp_path):
    spec = importlib.util.spec_from_file_location("v1_course", EXAMPLE)
    course = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(course)
    result = course.run(str(tmp_path))

    # The course's FEV, computed by hand in NumPy, is the library's fev column.
    evaluation = result["full"]["evaluation"]["per_neuron"]
    np.testing.assert_allclose(result["fev"], evaluation["fev"], rtol=1e-4, atol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(np.nan_to_num(result["fev"], nan=0.0) > 0.15, evaluation["included"])
    assert np.isfinite(result["feve_ridge"]) and np.isfinite(result["feve_full"])
    # The full model beats the pixel-ridge baseline, as in the course.
    assert result["feve_full"] > result["feve_ridge"]
    assert result["full"]["training"]["epochs_run"] == 11
    # Minimodels of the two most reliable neurons, then that neuron's top images.
    best = list(np.argsort(-np.nan_to_num(result["fev"], nan=-1.0))[:2])
    assert [r["neuron"] for r in result["minimodels"]["rows"]] == best
    top = result["top_images"]["neurons"][0]
    assert top["neuron"] == best[0]
    assert len(set(top["top_images"])) == len(top["top_images"]) == 16
    assert os.path.isfile(top["figure"])
    # Every model it wrote loads again.
    for path in [result["full"]["model_path"], result["ridge"]["model_path"], *result["minimodels"]["per_neuron"]["model_path"]]:
        assert isinstance(fovea.load_model(path), fovea.Model)
