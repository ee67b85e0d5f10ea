"""fovea's commands as Python functions: train, evaluate, predict, visualize,
simulate data, fit minimodels, find top images.

Each function calls the same library function as the ``fovea`` command of
the same name (``fovea/api/``), so it reads and writes the same files and
computes the same numbers, and returns its results as Python values: dicts
of paths, NumPy arrays, ``torch.Tensor`` and :class:`fovea.Model`. Keyword
names are the command's flag names with dashes as underscores
(``--fev-threshold`` -> ``fev_threshold``).

    >>> import fovea
    >>> fovea.simulate_v1("data", neurons=20, train_images=500)
    >>> run = fovea.train("configs/v1_demo.yaml", output="run",
    ...                   overrides={"data.images": "data/images.npy", "data.responses": "data/responses.npz"})
    >>> run["evaluation"]["summary"]["mean"]["feve"]
    >>> fovea.evaluate(run["model"], "data")["per_neuron"]["feve"]

Errors: a wrong argument type is a ``TypeError``, a bad value a ``ValueError``,
and what the library reports (a missing file, a config key it does not know,
...) is :class:`fovea.Error` with the command line's one-line message.
"""
import json
import numbers
import os
import sys
import time

import numpy as np
import torch

from . import _fovea
from .models import Model, load_model

__all__ = ["train", "evaluate", "predict", "visualize", "simulate_v1", "simulate_retina", "fit_minimodels",
           "top_images"]


# ---- argument checks ------------------------------------------------------------

def _path(value, what):
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value)
    raise TypeError(f"{what} must be a str or os.PathLike, not {type(value).__name__}")


def _optional_path(value, what):
    return "" if value is None else _path(value, what)


def _str(value, what, choices=None):
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    if choices is not None and value not in choices:
        raise ValueError(f"{what} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _int(value, what, minimum=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{what} must be at least {minimum}, not {value}")
    return int(value)


def _float(value, what, minimum=None, maximum=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a number, not {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value) or (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        bounds = (f" in [{minimum}, {maximum}]" if maximum is not None
                  else f" of at least {minimum}" if minimum is not None else "")
        raise ValueError(f"{what} must be a finite number{bounds}, not {value}")
    return value


def _bool(value, what):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{what} must be a bool, not {type(value).__name__}")
    return bool(value)


def _indices(value, what):
    """An int or a sequence of ints (not negative) -> list of ints."""
    if isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, bool):
        value = [value]
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{what} must be an int or a list of ints, not {type(value).__name__}")
    out = [_int(v, what, minimum=0) for v in value]
    if not out:
        raise ValueError(f"{what}: no indices given")
    return out


def _device(device):
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be a str or torch.device, not {type(device).__name__}")
    return str(device)


def _overrides(overrides):
    """None, a list of "key=value" strings or a dict (nested dicts become dotted
    keys; values written as JSON, which the config reader parses as YAML)."""
    if overrides is None:
        return []
    if isinstance(overrides, dict):
        out = []

        def flatten(prefix, d):
            for k, v in d.items():
                if not isinstance(k, str):
                    raise TypeError(f"overrides keys must be str, not {type(k).__name__}")
                key = f"{prefix}.{k}" if prefix else k
                if isinstance(v, dict) and v:
                    flatten(key, v)
                else:
                    out.append(f"{key}={json.dumps(v)}")

        flatten("", overrides)
        return out
    if isinstance(overrides, (list, tuple)):
        for o in overrides:
            if not isinstance(o, str):
                raise TypeError(f"overrides must be 'key=value' strings, not {type(o).__name__}")
            if "=" not in o:
                raise ValueError(f"override {o!r} is not of the form key=value")
        return list(overrides)
    raise TypeError(f"overrides must be a dict or a list of 'key=value' strings, not {type(overrides).__name__}")


def _model(model, what="model"):
    """(fovea.Model, the name used in messages) from a Model or a path/name."""
    if isinstance(model, Model):
        return model, model.name or what
    if isinstance(model, (str, os.PathLike)):
        return load_model(os.fspath(model)), os.fspath(model)
    raise TypeError(f"{what} must be a fovea.Model or a path, URL or pretrained name, not {type(model).__name__}")


def _data(data, images, responses, truth=None, mouse=None, textures=False):
    """(dir, images, responses, truth, mouse, textures) for the library (api::V1DataFiles):
    a dataset directory, minimodel's published files of ``mouse`` in ``data``
    (``textures``: its texture responses), or explicit files."""
    out = [_optional_path(data, "data"), _optional_path(images, "images"), _optional_path(responses, "responses"),
           _optional_path(truth, "truth"), "" if mouse is None else _str(mouse, "mouse"), _bool(textures, "textures")]
    if not out[0] and not (out[1] and out[2]):
        raise ValueError("give data (a dataset directory) or both images and responses")
    return out


# ---- results -------------------------------------------------------------------------

def _report(raw):
    """The library's evaluation report as {"per_neuron": {column: array}, "summary": dict}."""
    table = raw["table"].numpy()
    per_neuron = {column: table[:, i].copy() for i, column in enumerate(raw["columns"])}
    per_neuron["included"] = raw["included"].numpy().astype(bool)
    if raw["session"]:
        per_neuron["session"] = list(raw["session"])
        per_neuron["neuron"] = np.asarray(raw["neuron"], dtype=np.int64)
    else:
        per_neuron["neuron"] = np.arange(table.shape[0], dtype=np.int64)
    return {"per_neuron": per_neuron, "summary": raw["summary"]}


class _ProgressLine:
    """Progress as one line rewritten in place (``\\r``) on a terminal, as tqdm
    draws it, and as plain lines where output is not a terminal (notebooks, logs)."""

    def __init__(self, enabled=True, stream=None):
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.monotonic()
        self.width = 0

    @staticmethod
    def _number(v):
        return "nan" if v != v else f"{v:.4g}"

    def __call__(self, stage, step, total, metrics):
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.start
        left = elapsed / step * (total - step) if step and total > step else 0.0
        # The loss first, then the scores, the best so far, the rest.
        order = sorted(metrics, key=lambda k: (k != "train_loss", k.startswith("best_"), k == "lr", k))
        shown = "  ".join(f"{k} {self._number(metrics[k])}" for k in order if k != "seconds")
        text = f"{stage} {step}/{total}  {shown}  [{elapsed:.1f}s<{left:.1f}s]"
        if self.tty:
            self.stream.write("\r" + text.ljust(self.width))
            self.width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self):
        if self.enabled and self.tty and self.width:
            self.stream.write("\n")
            self.stream.flush()


def _with_progress(quiet, call):
    line = _ProgressLine(enabled=not quiet)
    try:
        return call(None if quiet else line)
    finally:
        line.close()


# ---- the workflows -----------------------------------------------------------------------

def train(config=None, output=None, overrides=None, seed=None, quiet=False, device="cpu", resume=None):
    """Fits the model a run configuration describes, as ``fovea train`` does.

    ``config``: a YAML file (``configs/*.yaml``) or a dict with the same sections
    (``data``, ``model``, ``training``, ``output``, ``seed``; a ``family: retina`` config
    trains a retina model). ``output``: the output directory (default: the config's
    ``output.dir``). ``overrides``: ``{"training.lr": 0.002}`` (nested dicts allowed) or
    ``["training.lr=0.002"]``. ``seed``: seeds every generator (default: the config's
    seed, else 0). ``quiet``: no progress line (otherwise one line per epoch, rewritten in
    place on a terminal). The config is checked before anything is read or written.
    ``resume``: instead of a config, the output folder of a run that was killed: it
    continues from its last checkpoint with the configuration it saved (``fovea train
    --resume``), and ends as the uninterrupted run would have.

    Writes model.safetensors, metrics.csv, eval.csv and eval.json into the output
    directory and returns a dict: ``model`` (the trained :class:`fovea.Model`, best
    validation state, eval mode), ``model_path``, ``output_dir``, ``metrics_csv``,
    ``eval_csv``, ``eval_json``, ``family`` ("v1" or "retina"), ``seed``, ``epochs``
    (one dict per epoch: epoch, period, lr, train_loss, the validation score and its
    best so far, seconds; the rows of metrics.csv), ``training`` (best_score, best_epoch
    (1-based, None when no score was finite), epochs_run, stop_reason, seconds) and
    ``evaluation`` (as :func:`evaluate` returns it, on the test set).
    """
    if (config is None) == (resume is None):
        raise TypeError("train() needs either config or resume")
    resume = _optional_path(resume, "resume") or ""
    if config is None:
        config_name, config_text = "", ""
    elif isinstance(config, dict):
        config_name, config_text = "config dict", json.dumps(config)
    else:
        config_name, config_text = _path(config, "config"), ""
    output = _optional_path(output, "output")
    overrides = _overrides(overrides)
    if seed is not None:
        seed = _int(seed, "seed", minimum=0)
    quiet = _bool(quiet, "quiet")
    raw = _with_progress(quiet, lambda line: _fovea._train(
        config_name, config_text, overrides, output, seed, _device(device), resume, line))
    result = {k: raw[k] for k in ("family", "seed", "output_dir", "model_path", "metrics_csv", "eval_csv", "eval_json",
                                  "epochs", "training")}
    result["model"] = Model(raw["model"], raw["model_path"])
    result["evaluation"] = _report(raw["evaluation"])
    if "fev_threshold" in raw:
        result["evaluation"]["threshold"] = raw["fev_threshold"]
    return result


def evaluate(model, data=None, fev_threshold=None, test_name=None, output=None, images=None, responses=None,
             truth=None, device="cpu", data_split=None, dataset_statistics=False, mouse=None, textures=False):
    """Evaluates a model on a dataset's repeated test stimuli, as ``fovea eval``.

    ``model``: a :class:`fovea.Model` or a path, URL or pretrained name. ``data``: the
    dataset directory (V1: images.npy|images.mat, responses.npz[, ground_truth.npz];
    retina: openretina's HDF5 layout); V1 data may be given as ``images`` and
    ``responses`` files instead, ``truth`` adds the correlation to the noise-free
    responses. ``fev_threshold`` (the command's ``--fev-threshold`` /
    ``--var-ratio-cutoff``): neurons with FEV above it (V1; default the model's) or an
    explainable/total variance ratio of at least it (retina; default 0.15) are included
    in the summary. ``test_name``: retina, which test stimulus. ``output``: a folder to
    write eval.csv and eval.json into (default: nothing is written).
    ``data_split`` (``--data-split``, openretina's ``evaluation.data_split``): retina,
    "train", "validation", "test" (the default) or a test stimulus's name.
    ``dataset_statistics`` (``--dataset-statistics``): retina, the summary also counts
    the unique frames and frame transitions of every split (openretina's
    compute_dataset_statistics). ``mouse`` (``--mouse``): V1, minimodel's published
    files of this mouse in the ``data`` folder (default: the mouse the model records);
    ``textures`` (``--textures``): its texture responses.

    Returns ``{"per_neuron": {column: numpy array, "included": bool array, "neuron": ...,
    "session": [...] (retina)}, "summary": {"mean": {...}, "median": {...}, "n_included":
    ..., "criterion": ..., "threshold": ...}, "family", "threshold", "files"}``: the
    columns and summary of eval.csv and eval.json (retina: per-trial ``corr_<i>`` and
    ``mse_<i>`` columns on repeated test trials, openretina's summary fields such as
    ``data_split``, ``temporal_lag``, ``corr_by_trial_mean``, and with
    ``dataset_statistics`` ``unique_train_frames`` ...). Cells that cannot be computed
    (no repeated trials) are NaN. The model is not changed.
    """
    model, name = _model(model)
    dirs = _data(data, images, responses, truth, mouse, textures)
    threshold = -1.0 if fev_threshold is None else _float(fev_threshold, "fev_threshold", minimum=0.0)
    test_name = "" if test_name is None else _str(test_name, "test_name")
    data_split = "test" if data_split is None else _str(data_split, "data_split")
    raw = _fovea._evaluate(model._impl, name, *dirs, threshold, test_name, data_split,
                           _bool(dataset_statistics, "dataset_statistics"), _optional_path(output, "output"),
                           _device(device))
    result = _report(raw)
    result["family"] = raw["family"]
    result["threshold"] = raw["threshold"]
    result["files"] = {"csv": raw["csv"], "json": raw["json"]} if raw["csv"] else {}
    return result


def predict(model, data_or_images, session=None, batch_size=100, output=None, device="cpu"):
    """A model's responses to stimuli, as ``fovea predict`` (eval mode, no autograd).

    ``data_or_images``: a torch.Tensor or NumPy array, or the path of an .npy file, of
    images (n, [channels,] height, width) or movies (n, channels, frames, height, width).
    ``session``: the session (data_key); ``None``: all sessions. ``output``: an .npy
    file to write the responses to as well.

    Returns (n, neurons), or (n, frames, neurons) for movies (the first
    ``frames_in - frames_out`` input frames have no prediction): a torch.Tensor for a
    tensor input, else a NumPy array. Shapes that do not fit the model and non-finite
    values are fovea.Error naming the input.
    """
    model, name = _model(model)
    if isinstance(data_or_images, torch.Tensor):
        stimuli, origin, as_numpy = data_or_images, "stimuli", False
    elif isinstance(data_or_images, np.ndarray):
        stimuli, origin, as_numpy = torch.from_numpy(np.ascontiguousarray(data_or_images)), "stimuli", True
    elif isinstance(data_or_images, (str, os.PathLike)):
        origin = os.fspath(data_or_images)
        if not os.path.isfile(origin):
            raise _fovea.Error(f"{origin}: no such file")
        stimuli, as_numpy = torch.from_numpy(np.ascontiguousarray(np.load(origin))), True
    else:
        raise TypeError("data_or_images must be a torch.Tensor, a numpy.ndarray or the path of an .npy file, "
                        f"not {type(data_or_images).__name__}")
    session = "" if session is None else _str(session, "session")
    raw = _fovea._predict(model._impl, name, stimuli, origin, session, _int(batch_size, "batch_size", minimum=1),
                          _optional_path(output, "output"), _device(device))
    return raw["responses"].numpy() if as_numpy else raw["responses"]


def visualize(model, save_folder, data=None, time_steps_stimulus=50, image_file_format="jpg", steps=10, lr=100.0,
              batch_size=16, no_constraints=False, no_weights=False, no_meis=False, seed=0, device="cpu",
              resume=False):
    """openretina's visualize, as ``fovea visualize``: the weight figures and the MEIs of
    every inner channel and output neuron, and ``save_folder/index.html`` to browse them;
    with ``data`` (a dataset directory) each neuron's evaluation joins the page. With
    ``resume=True`` (``--resume``) a killed run's finished figures and MEI batches in
    ``save_folder`` are kept untouched and the rest made; other options are refused.

    Returns ``{"page": path of index.html, "meis": count, "weight_figures": count,
    "notes": [what was skipped and why], "evaluation": as :func:`evaluate` returns it or
    None, "files": every file under save_folder, sorted}``. The model is moved to ``device``.
    """
    model, name = _model(model)
    raw = _fovea._visualize(
        model._impl, name, _path(save_folder, "save_folder"), _optional_path(data, "data"),
        time_steps_stimulus=_int(time_steps_stimulus, "time_steps_stimulus", minimum=1),
        image_file_format=_str(image_file_format, "image_file_format", ("png", "jpg", "svg", "pdf")),
        steps=_int(steps, "steps", minimum=0), lr=_float(lr, "lr", minimum=0.0),
        batch_size=_int(batch_size, "batch_size", minimum=1),
        constraints=not _bool(no_constraints, "no_constraints"), weights=not _bool(no_weights, "no_weights"),
        meis=not _bool(no_meis, "no_meis"), seed=_int(seed, "seed", minimum=0), device=_device(device),
        resume=_bool(resume, "resume"))
    files = sorted(os.path.join(root, f) for root, _, names in os.walk(os.fspath(save_folder)) for f in names)
    return {"page": raw["page"], "meis": raw["meis"], "weight_figures": raw["weight_figures"], "notes": raw["notes"],
            "evaluation": None if raw["evaluation"] is None else _report(raw["evaluation"]), "files": files}


def simulate_v1(output_dir, neurons=60, train_images=4000, test_images=100, repeats=10, height=66, width=130,
                complex_fraction=0.5, noise=1.0, seed=0):
    """A V1 dataset from a ground-truth population (Gabor simple and complex cells on
    natural-like images), in minimodel's layout, as ``fovea simulate v1``: images.npy,
    responses.npz, ground_truth.npz (the noise-free test responses) and README.txt.

    Returns ``{"dir", "files": [paths], "n_neurons", "n_images", "fev": numpy array (per
    neuron, on the written test repeats), "mean_fev"}``. The same seed gives the same files.
    """
    raw = _fovea._simulate_v1(
        _path(output_dir, "output_dir"), neurons=_int(neurons, "neurons", 1),
        train_images=_int(train_images, "train_images", 1), test_images=_int(test_images, "test_images", 2),
        repeats=_int(repeats, "repeats", 2), height=_int(height, "height", 16), width=_int(width, "width", 16),
        complex_fraction=_float(complex_fraction, "complex_fraction", 0.0, 1.0), noise=_float(noise, "noise", 0.0),
        seed=_int(seed, "seed", 0))
    return {"dir": os.fspath(output_dir), "files": list(raw["files"]), "n_neurons": raw["n_neurons"],
            "n_images": raw["n_images"], "fev": raw["fev"].numpy(), "mean_fev": raw["mean_fev"]}


def simulate_retina(output_dir, sessions=2, neurons_per_session=30, stimulus="noise", height=18, width=16, colors=2,
                    train_frames=6000, test_frames=300, repeats=3, filter_frames=30, noise=1.0, seed=0):
    """A retina dataset from a ground-truth population (ON/OFF, sustained/transient,
    colour-opponent ganglion cells) in openretina's HDF5 layout, as ``fovea simulate
    retina``, with the noise-free test responses in ``ground_truth/``.

    ``neurons_per_session``: one count for all sessions or a list, one per session.
    ``stimulus``: "noise" or "natural". Returns ``{"dir", "files", "sessions": [names],
    "n_neurons": [per session], "n_cells", "mean_fev": [per session]}``.
    """
    if isinstance(neurons_per_session, (numbers.Integral, np.integer)) and not isinstance(neurons_per_session, bool):
        neurons_per_session = [neurons_per_session]
    if not isinstance(neurons_per_session, (list, tuple)):
        raise TypeError(f"neurons_per_session must be an int or a list of ints, not {type(neurons_per_session).__name__}")
    raw = _fovea._simulate_retina(
        _path(output_dir, "output_dir"), sessions=_int(sessions, "sessions", 1),
        neurons_per_session=[_int(n, "neurons_per_session", 1) for n in neurons_per_session],
        stimulus=_str(stimulus, "stimulus", ("noise", "natural")), height=_int(height, "height", 4),
        width=_int(width, "width", 4), colors=_int(colors, "colors", 1),
        train_frames=_int(train_frames, "train_frames", 8), test_frames=_int(test_frames, "test_frames", 2),
        repeats=_int(repeats, "repeats", 2), filter_frames=_int(filter_frames, "filter_frames", 8),
        noise=_float(noise, "noise", 0.0), seed=_int(seed, "seed", 0))
    return {"dir": os.fspath(output_dir), "files": list(raw["files"]), "sessions": list(raw["sessions"]),
            "n_neurons": list(raw["n_neurons"]), "n_cells": raw["n_cells"], "mean_fev": list(raw["mean_fev"])}


def fit_minimodels(full_model, data=None, neurons=None, config=None, overrides=None, output="minimodels",
                   images=None, responses=None, seed=0, quiet=False, device="cpu", resume=False, mouse=None,
                   textures=False, batch_minimodels=1):
    """One minimodel per neuron (Du et al. 2025), as ``fovea minimodels``: a 16->64
    model whose first layer is copied from the trained ``full_model`` and frozen.

    ``full_model``: the full model's file (or a :class:`fovea.Model` loaded from one;
    a model without a file is saved to ``output/full_model.safetensors`` first).
    ``data``: the V1 dataset directory (or ``images`` and ``responses``; or with
    ``mouse``, the folder of minimodel's published files of that mouse, ``textures``:
    its texture responses, as ``--mouse`` / ``--textures``). ``neurons``: an index or a list. ``config``: YAML overriding minimodel's recipe; ``overrides``
    as for :func:`train`. Writes ``output/minimodel_n<k>.safetensors`` and
    ``output/summary.csv``. ``resume``: keep the minimodels already in ``output`` (a run
    that was killed) and fit the rest. ``batch_minimodels``: how many minimodels train
    together in one pass (``--batch-minimodels``; 1: one after another; the minimodels
    are the same either way, within float rounding).

    Returns ``{"per_neuron": {"neuron", "fev", "feve_full", "feve_minimodel",
    "channels_used", "channels": numpy arrays, "model_path": [paths]}, "rows": [one dict
    per neuron], "summary_csv"}``.
    """
    if isinstance(full_model, Model):
        path = full_model.name
        if not (path and os.path.isfile(path)):
            os.makedirs(_path(output, "output"), exist_ok=True)
            path = os.path.join(os.fspath(output), "full_model.safetensors")
            full_model.save(path)
    else:
        path = _path(full_model, "full_model")
    if neurons is None:
        raise TypeError("fit_minimodels() needs neurons (an index or a list of indices)")
    dirs = _data(data, images, responses, None, mouse, textures)
    quiet = _bool(quiet, "quiet")
    raw = _with_progress(quiet, lambda line: _fovea._minimodels(
        path, *dirs, _indices(neurons, "neurons"), config=_optional_path(config, "config"),
        overrides=_overrides(overrides), output=_path(output, "output"), device=_device(device),
        seed=_int(seed, "seed", 0), resume=_bool(resume, "resume"),
        batch_minimodels=_int(batch_minimodels, "batch_minimodels", 1), progress=line))
    rows = list(raw["rows"])
    per_neuron = {k: np.array([r[k] for r in rows]) for k in
                  ("neuron", "fev", "feve_full", "feve_minimodel", "channels_used", "channels")}
    per_neuron["model_path"] = [r["model_path"] for r in rows]
    return {"per_neuron": per_neuron, "rows": rows, "summary_csv": raw["summary_csv"]}


def top_images(model, data=None, neuron=None, threshold=0.01, n_top=16, n_channel_top=8, format="png",
               output="top_images", images=None, responses=None, device="cpu", mouse=None, textures=False):
    """A V1 neuron's preferred training images and those of each readout channel it
    uses (the V1 tutorial's "maximum stimuli"), as ``fovea top-images``.

    ``model``: a V1 model with a rank-1 readout (:class:`fovea.Model` or path). ``data``:
    its dataset directory (or ``images`` and ``responses``; ``mouse`` / ``textures``
    as for :func:`fit_minimodels`). ``neuron``: an index or a list. ``threshold``: channels with |Wc| above it are shown (the tutorial uses 0.3).
    Writes ``output/neuron_<k>_top_images.<format>`` and ``output/top_images.json``.

    Returns ``{"neurons": [{"neuron", "figure", "top_images": [image indices, best
    first], "channels": [{"channel", "wc", "top_images"}]}], "summary_json"}``; image
    indices are into the dataset's images, as in top_images.json.
    """
    model, name = _model(model)
    if neuron is None:
        raise TypeError("top_images() needs neuron (an index or a list of indices)")
    data_dir, image_file, response_file, _, mouse, textures = _data(data, images, responses, None, mouse, textures)
    raw = _fovea._top_images(
        model._impl, name, data_dir, image_file, response_file, mouse, textures, _indices(neuron, "neuron"),
        threshold=_float(threshold, "threshold"),
        n_top=_int(n_top, "n_top", 1), n_channel_top=_int(n_channel_top, "n_channel_top", 1),
        format=_str(format, "format", ("png", "svg", "pdf", "jpg")), output=_path(output, "output"),
        device=_device(device))
    return {"neurons": list(raw["neurons"]), "summary_json": raw["summary_json"]}
