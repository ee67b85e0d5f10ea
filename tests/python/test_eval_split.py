"""fovea.evaluate's options that `fovea eval` has: data_split and
dataset_statistics (retina, openretina's evaluation.data_split and
compute_dataset_statistics) and the V1 data options mouse / textures, each
checked against what the command writes for the same inputs and against
counts and means computed here."""
import csv
import json
import math
import os
import shutil
import subprocess

import numpy as np
import pytest

import fovea

CLIP, TRAIN_FRAMES, VAL_CLIPS, TEST_FRAMES, REPEATS = 60, 900, 4, 90, 3
# A small retina model (3 channels) on a small simulated recording, 1 epoch.
RETINA = {
    "family": "retina",
    "data": {"layout": "hdf5", "dir": None, "test_names": ["test"], "clip_length": CLIP, "num_val_clips": VAL_CLIPS,
             "split_seed": 7},
    "model": {"hidden_channels": [3],
              "core": {"type": "simple_core_wrapper", "temporal_kernel_sizes": [11], "spatial_kernel_sizes": [7],
                       "convolution_type": "custom_separable", "input_padding": 0, "hidden_padding": 0,
                       "gamma_temporal": 0.0, "cut_first_n_frames": 0},
              "readout": {"type": "gaussian_mask", "scale": True, "bias": True, "gaussian_mean_scale": 6.0,
                          "gaussian_var_scale": 4.0, "positive": True, "mask_l1_reg": 0.1,
                          "feature_weights_l1_reg": 0.1}},
    "training": {"batch_size": 16, "chunk_size": 30, "max_epochs": 1, "lr": 0.03},
    "seed": 3,
}
# A small V1 model (4-8 channels on 33x65 images), 1 epoch.
V1 = {
    "data": {"images": None, "responses": None, "downsample": 2, "fev_threshold": 0.15},
    "model": {"core": {"type": "minimodel_core", "n_layers": 2, "n_conv": 4, "n_conv_mid": 8, "kernel_size": [9, 5]},
              "readout": {"type": "rank1"}},
    "training": {"period_epochs": [1], "lr": 0.003, "batch_size": 25, "patience": 0},
    "seed": 3,
}


def run_cli(binary, *args, ok=True):
    """The command on one thread, as this process runs (another thread count
    sums the float32 convolutions in another order: correlations a few 1e-7 apart)."""
    out = subprocess.run([binary, *map(str, args), "--threads", "1"], capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert (out.returncode == 0) == ok, out.stderr
    return out


def read_eval(folder):
    """eval.csv as {column: float array} (empty cells NaN) and eval.json."""
    with open(folder / "eval.csv") as f:
        rows = list(csv.DictReader(f))
    with open(folder / "eval.json") as f:
        summary = json.load(f)
    columns = {}
    for name in rows[0]:
        try:
            columns[name] = np.array([float(r[name]) if r[name] != "" else np.nan for r in rows])
        except ValueError:  # session names
            columns[name] = [r[name] for r in rows]
    return columns, summary


def same_number(a, b):
    return (a is None and b is None) or (a is not None and b is not None and
                                         (math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9) or (a != a and b != b)))


@pytest.fixture(scope="module")
def retina(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval_split")
    data = root / "data"
    fovea.simulate_retina(data, sessions=2, neurons_per_session=[6, 5], train_frames=TRAIN_FRAMES,
                          test_frames=TEST_FRAMES, repeats=REPEATS, seed=4)
    run = fovea.train(RETINA, output=root / "run", quiet=True, overrides={"data.dir": str(data)})
    return {"root": root, "data": data, "model": run["model_path"]}


def check_matches_the_command(result, folder):
    """Every column and summary field eval.csv / eval.json hold, as the command wrote them."""
    columns, summary = read_eval(folder)
    for name, values in columns.items():
        if name == "session":
            assert result["per_neuron"]["session"] == values
        elif name == "included":
            np.testing.assert_array_equal(result["per_neuron"]["included"], values.astype(bool))
        else:
            np.testing.assert_allclose(result["per_neuron"][name], values, rtol=1e-5, atol=1e-7, err_msg=name)
    for key, value in summary.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            assert same_number(result["summary"][key], value), key
        elif key not in ("mean", "median"):
            assert result["summary"][key] == value, key
    return columns, summary


@pytest.mark.parametrize("split", ["validation", "train"])
def test_train_and_validation_splits_match_the_command(retina, fovea_binary, split):
    result = fovea.evaluate(retina["model"], retina["data"], data_split=split)
    assert result["family"] == "retina"
    assert result["summary"]["data_split"] == split
    assert result["summary"]["temporal_lag"] == 10  # temporal kernel 11
    assert result["summary"]["n_test_repeats_max"] == 1
    # One trial: the noise-ceiling cells are missing (NaN); corr_0 is the correlation to the responses.
    assert np.isnan(result["per_neuron"]["feve_openretina"]).all()
    np.testing.assert_allclose(result["per_neuron"]["corr_0"], result["per_neuron"]["corr_to_average"], rtol=1e-9)
    clips = TRAIN_FRAMES // CLIP - VAL_CLIPS if split == "train" else VAL_CLIPS
    assert set(result["summary"]["n_frames_per_session"].values()) == {clips * (CLIP - 10)}
    out = retina["root"] / f"cli_{split}"
    run_cli(fovea_binary, "eval", "--model", retina["model"], "--data", retina["data"], "--data-split", split, "-o", out)
    check_matches_the_command(result, out)


def test_test_split_per_trial_columns_and_dataset_statistics_match_the_command(retina, fovea_binary):
    result = fovea.evaluate(retina["model"], retina["data"], fev_threshold=0.0, dataset_statistics=True)
    n = result["per_neuron"]
    s = result["summary"]
    assert s["data_split"] == "test" and s["n_test_repeats_min"] == REPEATS
    # openretina: mean and (ddof 0) std over trials of each trial's mean over neurons
    # (cutoff 0: every neuron); per_trial_corr is each neuron's mean over trials.
    corr = np.stack([n[f"corr_{i}"] for i in range(REPEATS)])
    mse = np.stack([n[f"mse_{i}"] for i in range(REPEATS)])
    assert f"corr_{REPEATS}" not in n
    assert s["corr_by_trial_mean"] == pytest.approx(corr.mean(1).mean(), abs=1e-6)
    assert s["corr_by_trial_std"] == pytest.approx(corr.mean(1).std(), abs=1e-6)
    assert s["mse_by_trial_mean"] == pytest.approx(mse.mean(1).mean(), rel=1e-9)
    assert s["mse_by_trial_std"] == pytest.approx(mse.mean(1).std(), rel=1e-6, abs=1e-12)
    np.testing.assert_allclose(n["per_trial_corr"], corr.mean(0), rtol=1e-6, atol=1e-9)
    # Noise movies: every frame distinct; both sessions see the same movie and
    # validation clips, so the counts are one session's.
    val = VAL_CLIPS * CLIP
    assert s["n_sessions"] == 2
    assert (s["unique_train_frames"], s["unique_train_transitions"]) == (TRAIN_FRAMES - val, TRAIN_FRAMES - val - 1)
    assert (s["unique_val_frames"], s["unique_val_transitions"]) == (val, VAL_CLIPS * (CLIP - 1))
    assert s["unique_train_val_frames"] == TRAIN_FRAMES
    assert s["unique_test_frames"] == {"test": TEST_FRAMES}
    assert s["unique_test_transitions"] == {"test": TEST_FRAMES - 1}
    out = retina["root"] / "cli_test"
    printed = run_cli(fovea_binary, "eval", "--model", retina["model"], "--data", retina["data"],
                      "--var-ratio-cutoff", 0, "--dataset-statistics", "-o", out).stdout
    assert "unique frames" in printed
    columns, summary = check_matches_the_command(result, out)
    assert f"mse_{REPEATS - 1}" in columns and summary["unique_train_val_frames"] == TRAIN_FRAMES
    # data_split may name the test stimulus; without dataset_statistics nothing is counted.
    by_name = fovea.evaluate(retina["model"], retina["data"], fev_threshold=0.0, data_split="test")
    np.testing.assert_array_equal(by_name["per_neuron"]["corr_1"], n["corr_1"])
    assert "unique_train_frames" not in by_name["summary"]


def test_bad_split_and_argument_types(retina, fovea_binary):
    with pytest.raises((fovea.Error, ValueError), match="'holdout'") as raised:
        fovea.evaluate(retina["model"], retina["data"], data_split="holdout", output=retina["root"] / "bad")
    assert "--data-split" in str(raised.value)
    assert not (retina["root"] / "bad").exists()
    cli = run_cli(fovea_binary, "eval", "--model", retina["model"], "--data", retina["data"], "--data-split", "holdout",
                  "-o", retina["root"] / "bad_cli", ok=False)
    assert str(raised.value) in cli.stderr
    with pytest.raises(TypeError):
        fovea.evaluate(retina["model"], retina["data"], data_split=1)
    with pytest.raises(TypeError):
        fovea.evaluate(retina["model"], retina["data"], dataset_statistics="yes")


@pytest.fixture(scope="module")
def v1(tmp_path_factory):
    """A simulated V1 recording, and the same responses under minimodel's published
    file name of mouse FX10 in a folder of their own."""
    root = tmp_path_factory.mktemp("eval_mouse")
    data = root / "data"
    fovea.simulate_v1(data, neurons=4, train_images=150, test_images=10, repeats=4, seed=2)
    published = root / "published"
    published.mkdir()
    shutil.copy(data / "responses.npz", published / "FX10_nat60k_2023_05_16.npz")
    run = fovea.train(V1, output=root / "run", quiet=True,
                      overrides={"data": {"images": str(data / "images.npy"), "responses": str(data / "responses.npz")}})
    return {"root": root, "data": data, "published": published, "model": run["model_path"]}


def test_mouse_reads_the_published_file_name_as_the_command(v1, fovea_binary):
    plain = fovea.evaluate(v1["model"], v1["data"])
    images = v1["data"] / "images.npy"
    result = fovea.evaluate(v1["model"], v1["published"], images=images, mouse="FX10")
    # The same responses under the mouse's file name: the same evaluation (no truth file there).
    for column in ("fev", "feve", "corr_to_average"):
        np.testing.assert_allclose(result["per_neuron"][column], plain["per_neuron"][column], rtol=1e-9, err_msg=column)
    assert "corr_to_truth" not in result["per_neuron"]
    out = v1["root"] / "cli_mouse"
    run_cli(fovea_binary, "eval", "--model", v1["model"], "--data", v1["published"], "--images", images,
            "--mouse", "FX10", "-o", out)
    check_matches_the_command(result, out)
    # top_images passes the mouse on too: the same images ranked.
    top = fovea.top_images(v1["model"], v1["published"], neuron=1, n_top=4, n_channel_top=2, images=images,
                           mouse="FX10", output=v1["root"] / "top_mouse")
    top_plain = fovea.top_images(v1["model"], v1["data"], neuron=1, n_top=4, n_channel_top=2,
                                 output=v1["root"] / "top_plain")
    assert top["neurons"][0]["top_images"] == top_plain["neurons"][0]["top_images"]


def test_mouse_and_textures_errors_are_the_commands(v1, fovea_binary):
    model, published = v1["model"], v1["published"]
    cases = [  # (Python keywords, the command's flags, a part of the message)
        ({"mouse": "FX10"}, ["--mouse", "FX10"], "nat60k_text16.mat"),  # no images file in the folder
        ({"mouse": "FX11"}, ["--mouse", "FX11"], "FX10"),  # unknown mouse: the known ones listed
        ({"mouse": "FX10", "textures": True}, ["--mouse", "FX10", "--textures"], "text16_FX10_2023_05_16.npz"),
        ({"mouse": "L1_A5", "textures": True}, ["--mouse", "L1_A5", "--textures"], "no texture recording"),
        ({"textures": True}, ["--textures"], "--mouse"),
    ]
    images = v1["data"] / "images.npy"
    for kwargs, flags, part in cases:
        if "textures" in kwargs and "mouse" in kwargs and kwargs["mouse"] == "FX10":
            kwargs = {**kwargs, "images": images}
            flags = [*flags, "--images", images]
        with pytest.raises((fovea.Error, ValueError)) as raised:
            fovea.evaluate(model, published, **kwargs)
        message = str(raised.value)
        assert part in message, (kwargs, message)
        cli = run_cli(fovea_binary, "eval", "--model", model, "--data", published, *flags, "-o",
                      v1["root"] / "no_eval", ok=False)
        assert message in cli.stderr, (kwargs, message, cli.stderr)
    with pytest.raises(TypeError):
        fovea.evaluate(model, published, mouse=10)
    with pytest.raises(TypeError):
        fovea.fit_minimodels(model, published, neurons=0, mouse="FX10", textures=1)
