"""fovea's workflows from Python (python/fovea/workflows.py over fovea/api/):
simulate -> train -> evaluate / predict -> minimodels -> top images on a small
simulated V1 dataset, each checked against the files it wrote and against
the `fovea` command run on the same inputs; then the errors."""
import csv
import io
import json
import os
import subprocess

import numpy as np
import pytest
import torch

import fovea
from fovea.workflows import _ProgressLine

# A small full model (8-16 channels on 33x65 images), 3 epochs.
TINY = {
    "data": {"images": None, "responses": None, "downsample": 2, "fev_threshold": 0.15},
    "model": {"core": {"type": "minimodel_core", "n_layers": 2, "n_conv": 8, "n_conv_mid": 16, "kernel_size": [9, 5]},
              "readout": {"type": "rank1"}},
    "training": {"period_epochs": [3], "lr": 0.003, "batch_size": 25, "patience": 0},
    "seed": 7,
}
SIMULATION = dict(neurons=6, train_images=300, test_images=12, repeats=4, seed=1)


def run_cli(binary, *args):
    out = subprocess.run([binary, *map(str, args)], capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    return out.stdout


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    root = tmp_path_factory.mktemp("workflows")
    data = root / "data"
    sim = fovea.simulate_v1(data, **SIMULATION)
    run = fovea.train(TINY, output=root / "run", quiet=True,
                      overrides={"data": {"images": str(data / "images.npy"), "responses": str(data / "responses.npz")}})
    return {"root": root, "data": data, "sim": sim, "run": run}


def test_simulate_v1_returns_what_it_wrote_and_matches_the_command(work, fovea_binary):
    sim = work["sim"]
    assert sim["n_neurons"] == 6
    assert sorted(os.path.basename(f) for f in sim["files"]) == ["README.txt", "ground_truth.npz", "images.npy",
                                                                  "responses.npz"]
    assert all(os.path.isfile(f) for f in sim["files"])
    assert sim["fev"].shape == (6,)
    assert sim["mean_fev"] == pytest.approx(float(np.nanmean(sim["fev"])), rel=1e-9)
    # The command with the same options writes the same files.
    cli = work["root"] / "cli_data"
    run_cli(fovea_binary, "simulate", "v1", cli, "--neurons", 6, "--train-images", 300, "--test-images", 12,
            "--repeats", 4, "--seed", 1)
    for name in ("images.npy", "responses.npz", "ground_truth.npz"):
        assert (cli / name).read_bytes() == (work["data"] / name).read_bytes(), name


def test_train_returns_the_model_metrics_and_evaluation_it_wrote(work):
    run = work["run"]
    assert isinstance(run["model"], fovea.Model)
    assert run["family"] == "v1" and run["seed"] == 7
    assert os.path.isfile(run["model_path"])
    # Per-epoch metrics: the rows of metrics.csv.
    rows = read_csv(run["metrics_csv"])
    assert [e["epoch"] for e in run["epochs"]] == [1, 2, 3] == [int(r["epoch"]) for r in rows]
    for e, r in zip(run["epochs"], rows):
        assert e["train_loss"] == pytest.approx(float(r["train_loss"]), rel=1e-6)
        assert e["val_varexp"] == pytest.approx(float(r["val_varexp"]), rel=1e-5, abs=1e-7)
    assert run["training"]["epochs_run"] == 3
    # The evaluation: eval.json's summary and eval.csv's columns.
    with open(run["eval_json"]) as f:
        summary = json.load(f)
    assert run["evaluation"]["summary"]["mean"]["feve"] == pytest.approx(summary["mean"]["feve"], rel=1e-9)
    table = read_csv(run["eval_csv"])
    np.testing.assert_allclose(run["evaluation"]["per_neuron"]["feve"], [float(r["feve"]) for r in table], rtol=1e-5)
    # The returned model is the saved one.
    saved = fovea.load_model(run["model_path"])
    x = torch.rand(4, 1, 33, 65)
    torch.testing.assert_close(run["model"](x), saved(x))


def test_training_progress_is_one_line_per_epoch_when_not_a_terminal(work, capsys):
    data = work["data"]
    fovea.train(TINY, output=work["root"] / "progress", seed=2,
                overrides=[f"data.images={data / 'images.npy'}", f"data.responses={data / 'responses.npz'}",
                           "training.period_epochs=[2]"])
    lines = [l for l in capsys.readouterr().err.splitlines() if l.startswith("epoch")]
    assert len(lines) == 2
    assert lines[0].startswith("epoch 1/2  train_loss") and lines[1].startswith("epoch 2/2  train_loss")
    assert "val_varexp" in lines[0] and "best_val_varexp" in lines[0]


def test_the_progress_line_is_rewritten_in_place_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    line = _ProgressLine(stream=stream)
    for step in (1, 2, 3):
        line("epoch", step, 3, {"train_loss": 0.5})
    line.close()
    text = stream.getvalue()
    assert text.count("\r") == 3 and text.count("\n") == 1 and text.endswith("\n")
    assert "epoch 3/3" in text.split("\r")[-1]


def test_evaluate_matches_the_command(work, fovea_binary):
    run = work["run"]
    result = fovea.evaluate(run["model"], work["data"])
    assert result["family"] == "v1" and result["threshold"] == pytest.approx(0.15)
    assert result["files"] == {}
    out = work["root"] / "cli_eval"
    run_cli(fovea_binary, "eval", "--model", run["model_path"], "--data", work["data"], "-o", out)
    table = read_csv(out / "eval.csv")
    for column in ("feve", "fev", "corr_to_average", "corr_to_truth"):
        np.testing.assert_allclose(result["per_neuron"][column], [float(r[column]) for r in table], rtol=1e-5,
                                   err_msg=column)
    # The same numbers as the training run's test-set evaluation.
    assert result["summary"]["mean"]["feve"] == pytest.approx(run["evaluation"]["summary"]["mean"]["feve"], rel=1e-9)
    # With output, the files are written; a threshold changes who is included.
    written = fovea.evaluate(run["model_path"], work["data"], fev_threshold=2.0, output=work["root"] / "py_eval")
    assert os.path.isfile(written["files"]["csv"]) and os.path.isfile(written["files"]["json"])
    assert written["summary"]["n_included"] == 0 and not written["per_neuron"]["included"].any()


def test_predict_matches_the_command(work, fovea_binary):
    run = work["run"]
    images = np.random.default_rng(0).random((7, 33, 65), dtype=np.float32)
    y = fovea.predict(run["model"], images)
    assert isinstance(y, np.ndarray) and y.shape == (7, 6)
    np.save(work["root"] / "images.npy", images)
    run_cli(fovea_binary, "predict", "--model", run["model_path"], "--input", work["root"] / "images.npy", "-o",
            work["root"] / "responses.npy")
    np.testing.assert_allclose(y, np.load(work["root"] / "responses.npy"), rtol=1e-5, atol=1e-6)
    # A tensor in gives a tensor out; an .npy path is read.
    t = fovea.predict(run["model"], torch.from_numpy(images), batch_size=3)
    assert isinstance(t, torch.Tensor)
    np.testing.assert_allclose(t.numpy(), y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fovea.predict(run["model_path"], work["root"] / "images.npy"), y, rtol=1e-5, atol=1e-6)


def test_fit_minimodels_returns_the_summary_it_wrote(work):
    out = work["root"] / "minimodels"
    result = fovea.fit_minimodels(work["run"]["model_path"], work["data"], neurons=[0, 3], output=out, quiet=True,
                                  overrides={"training.period_epochs": [1]})
    assert [r["neuron"] for r in result["rows"]] == [0, 3]
    assert list(result["per_neuron"]["neuron"]) == [0, 3]
    written = read_csv(result["summary_csv"])
    assert [int(r["neuron"]) for r in written] == [0, 3]
    for column in ("fev", "feve_full", "feve_minimodel"):
        np.testing.assert_allclose(result["per_neuron"][column], [float(r[column]) for r in written], rtol=1e-5,
                                   atol=1e-6, err_msg=column)
    assert all(os.path.isfile(p) for p in result["per_neuron"]["model_path"])
    assert np.all(result["per_neuron"]["channels_used"] <= result["per_neuron"]["channels"])
    # The full model's FEVE of a neuron is the full model's evaluation of it.
    feve = fovea.evaluate(work["run"]["model"], work["data"])["per_neuron"]["feve"]
    np.testing.assert_allclose(result["per_neuron"]["feve_full"], feve[[0, 3]], rtol=1e-4, atol=1e-6)


def test_top_images_returns_the_list_it_wrote(work, fovea_binary):
    out = work["root"] / "top"
    result = fovea.top_images(work["run"]["model"], work["data"], neuron=[1, 2], n_top=5, n_channel_top=3, output=out)
    with open(result["summary_json"]) as f:
        written = json.load(f)
    assert [n["neuron"] for n in result["neurons"]] == [1, 2]
    for entry, listed in zip(result["neurons"], written):
        assert os.path.isfile(entry["figure"])
        assert entry["top_images"] == listed["top_images"] and len(entry["top_images"]) == 5
        assert [c["channel"] for c in entry["channels"]] == [c["channel"] for c in listed["channels"]]
    # The command ranks the same images.
    cli = work["root"] / "cli_top"
    run_cli(fovea_binary, "top-images", "--model", work["run"]["model_path"], "--data", work["data"], "--neuron", "1,2",
            "--n-top", 5, "--n-channel-top", 3, "-o", cli)
    with open(cli / "top_images.json") as f:
        assert [n["top_images"] for n in json.load(f)] == [n["top_images"] for n in result["neurons"]]


def test_visualize_writes_the_page_and_the_evaluation(work):
    folder = work["root"] / "visualize"
    result = fovea.visualize(work["run"]["model"], folder, data=work["data"], steps=1, image_file_format="png")
    assert result["page"] == str(folder / "index.html") and os.path.isfile(result["page"])
    assert result["page"] in result["files"]
    assert result["meis"] > 0 and all(os.path.isfile(f) for f in result["files"])
    # Its evaluation is evaluate's, and it is written beside the figures.
    feve = fovea.evaluate(work["run"]["model"], work["data"])["per_neuron"]["feve"]
    np.testing.assert_allclose(result["evaluation"]["per_neuron"]["feve"], feve, rtol=1e-6)
    assert str(folder / "evaluation" / "eval.csv") in result["files"]


def test_simulate_retina_matches_the_command(tmp_path, fovea_binary):
    options = dict(sessions=2, neurons_per_session=[3, 4], height=8, width=8, train_frames=60, test_frames=20,
                   repeats=2, filter_frames=8, seed=5)
    result = fovea.simulate_retina(tmp_path / "py", **options)
    assert result["n_neurons"] == [3, 4] and len(result["sessions"]) == 2 == len(result["mean_fev"])
    run_cli(fovea_binary, "simulate", "retina", tmp_path / "cli", "--sessions", 2, "--neurons-per-session", "3,4",
            "--height", 8, "--width", 8, "--train-frames", 60, "--test-frames", 20, "--repeats", 2,
            "--filter-frames", 8, "--seed", 5)
    for f in result["files"]:
        relative = os.path.relpath(f, tmp_path / "py")
        if relative.endswith(".npy"):
            np.testing.assert_array_equal(np.load(f), np.load(tmp_path / "cli" / relative), err_msg=relative)
        assert os.path.isfile(tmp_path / "cli" / relative), relative
    with pytest.raises(ValueError):
        fovea.simulate_retina(tmp_path / "bad", stimulus="movies")


def test_errors(work, tmp_path):
    model = work["run"]["model"]
    with pytest.raises(TypeError):
        fovea.train(123)
    with pytest.raises(fovea.Error, match="lrr"):
        fovea.train({**TINY, "training": {**TINY["training"], "lrr": 0.1}}, output=tmp_path / "rejected")
    assert not (tmp_path / "rejected").exists()
    with pytest.raises(ValueError):
        fovea.train(TINY, overrides=["training.lr"])
    with pytest.raises(ValueError):
        fovea.simulate_v1(tmp_path / "sim", neurons=0)
    with pytest.raises(TypeError):
        fovea.simulate_v1(tmp_path / "sim", neurons="5")
    with pytest.raises(ValueError):
        fovea.evaluate(model)  # no data
    with pytest.raises(fovea.Error, match="does not exist"):
        fovea.evaluate(model, tmp_path / "no_such_dir")
    with pytest.raises(ValueError):
        fovea.predict(model, np.zeros((2, 33, 65), np.float32), batch_size=0)
    with pytest.raises(fovea.Error, match=r"stimuli have shape \(2, 1, 10, 10\)"):
        fovea.predict(model, np.zeros((2, 10, 10), np.float32))
    with pytest.raises(fovea.Error, match="no such file"):
        fovea.predict(model, tmp_path / "missing.npy")
    with pytest.raises(TypeError):
        fovea.predict(model, [1, 2, 3])
    with pytest.raises(fovea.Error, match="out of range"):
        fovea.top_images(model, work["data"], neuron=99, output=tmp_path / "top")
    # The library's own option checks are ValueError too.
    with pytest.raises(ValueError, match="--batch-size"):
        fovea._fovea._predict(model._impl, "m", torch.zeros(1, 33, 65), "x", "", 0, "", "cpu")


def test_train_resume_continues_a_killed_run_to_the_same_model(work, fovea_binary, tmp_path):
    """A run killed with SIGKILL after its first epoch, continued with
    ``fovea.train(resume=...)``, ends with the uninterrupted run's tensors."""
    data = work["data"]
    config = json.loads(json.dumps(TINY))
    config["training"]["period_epochs"] = [8]
    config["data"]["images"] = str(data / "images.npy")
    config["data"]["responses"] = str(data / "responses.npz")
    whole = fovea.train(config, output=tmp_path / "whole", quiet=True)
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    killed = tmp_path / "killed"
    proc = subprocess.Popen([fovea_binary, "train", "--config", str(config_file), "-o", str(killed), "-q",
                             "--threads", "1"], env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = killed / "metrics.csv"
    while proc.poll() is None and not (metrics.exists() and len(metrics.read_text().splitlines()) >= 2):
        pass
    proc.kill()
    proc.wait()
    assert not (killed / "model.safetensors").exists(), "the run ended before it could be killed"
    resumed = fovea.train(resume=killed, quiet=True)
    a, b = whole["model"].state_dict(), resumed["model"].state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]
    assert strip(read_csv(resumed["metrics_csv"])) == strip(read_csv(whole["metrics_csv"]))
    with pytest.raises(TypeError, match="config or resume"):
        fovea.train()
