"""The V1 course's main path with fovea, on simulated data.

The course ("Building simplified models of primary visual cortex", minimodel's
tutorial) loads mouse V1 recordings, keeps the reliable neurons (fraction of
explainable variance, FEV), fits a ridge-regression baseline, trains the full
model (16-320 channels, rank-1 readout), fits per-neuron minimodels from its
first layer and shows each neuron's preferred images. Here the recordings are
simulated (Gabor simple and complex cells; `fovea.simulate_v1`) and kept small,
so the walk takes well under a minute on one core; the same calls run the
course's real data with the presets in configs/ (v1_ridge.yaml,
v1_fullmodel.yaml, v1_minimodel.yaml).

    PYTHONPATH=build/python /usr/bin/python3 examples/python/v1_course.py [WORKDIR]
"""
import os
import sys
import tempfile

import numpy as np

import fovea

CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "configs")


def fraction_of_explainable_variance(spks_test):
    """The course's section 2: per neuron, (total variance - noise variance) / total
    variance over the repeated test trials (stimuli, repeats, neurons), ddof=1.
    A neuron that never fired has no variance: its FEV is NaN, and it is not kept."""
    n_neurons = spks_test.shape[-1]
    total_var = spks_test.reshape(-1, n_neurons).var(axis=0, ddof=1)
    noise_var = spks_test.var(axis=1, ddof=1).mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (total_var - noise_var) / total_var


def run(workdir, quiet=True):
    """Walks the course; returns what each step found (a dict), printing as it goes."""
    data = os.path.join(workdir, "data")
    files = {"data.images": os.path.join(data, "images.npy"), "data.responses": os.path.join(data, "responses.npz")}

    # 1. Data: images and responses in minimodel's layout.
    fovea.simulate_v1(data, neurons=12, train_images=1500, test_images=40, repeats=6, seed=0)
    images = np.load(files["data.images"])
    responses = np.load(files["data.responses"])
    spks, spks_test = responses["sp"], responses["ss_all"]
    print(f"1. {images.shape[0]} images of {images.shape[1]}x{images.shape[2]}; {spks.shape[0]} neurons, "
          f"{spks.shape[1]} training trials, {spks_test.shape[0]} test images x {spks_test.shape[1]} repeats")

    # 2. Response reliability: FEV, and the neurons above the course's threshold.
    fev = fraction_of_explainable_variance(spks_test)
    reliable = np.flatnonzero(fev > 0.15)
    print(f"2. FEV: mean {np.nanmean(fev):.3f}; {reliable.size} of {fev.size} neurons above 0.15")

    # 3. Baseline: ridge regression on down-sampled pixels.
    ridge = fovea.train(os.path.join(CONFIGS, "v1_demo_ridge.yaml"), output=os.path.join(workdir, "ridge"),
                        overrides=files, quiet=quiet)
    feve_ridge = ridge["evaluation"]["summary"]["mean"]["feve"]
    print(f"3. ridge baseline: FEVE {feve_ridge:.3f}")

    # 4. The full model (the demo preset, narrowed and shortened for this walk).
    full = fovea.train(os.path.join(CONFIGS, "v1_demo.yaml"), output=os.path.join(workdir, "full"),
                       overrides={**files, "model.core.n_conv_mid": 64, "training.period_epochs": [8, 3]}, quiet=quiet)
    feve_full = full["evaluation"]["summary"]["mean"]["feve"]
    print(f"4. full model: FEVE {feve_full:.3f} after {full['training']['epochs_run']} epochs")

    # 5. Minimodels of the two most reliable neurons, their first layer from the full model.
    best = [int(k) for k in np.argsort(-np.nan_to_num(fev, nan=-1.0))[:2]]
    mini = fovea.fit_minimodels(full["model_path"], data, neurons=best, output=os.path.join(workdir, "minimodels"),
                                overrides={"training.period_epochs": [6, 2]}, quiet=quiet)
    for row in mini["rows"]:
        print(f"5. neuron {row['neuron']}: FEVE full {row['feve_full']:.3f}, minimodel {row['feve_minimodel']:.3f}, "
              f"{row['channels_used']}/{row['channels']} channels used")

    # 6. The preferred training images of the most reliable neuron.
    top = fovea.top_images(full["model"], data, neuron=best[0], output=os.path.join(workdir, "top_images"))
    entry = top["neurons"][0]
    print(f"6. neuron {entry['neuron']}: top images {entry['top_images'][:5]}..., "
          f"{len(entry['channels'])} readout channels; figure {entry['figure']}")

    return {"fev": fev, "reliable": reliable, "feve_ridge": feve_ridge, "feve_full": feve_full, "ridge": ridge,
            "full": full, "minimodels": mini, "top_images": top}


if __name__ == "__main__":
    if len(sys.argv) > 1:
        os.makedirs(sys.argv[1], exist_ok=True)
        run(sys.argv[1], quiet=False)
    else:
        with tempfile.TemporaryDirectory() as workdir:
            run(workdir, quiet=False)
