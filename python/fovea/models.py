"""fovea models from Python: load, call (with autograd), train, save, draw.

A :class:`Model` wraps the C++ model (a core shared by all neurons and a
readout per session). Its parameters are ``torch.Tensor`` objects that share
memory with the C++ model, so ``torch.optim`` optimisers over
``model.parameters()`` train it, and calling the model records an autograd
graph that ``backward()`` runs through fovea's layers.
"""
import json
import os
from collections import OrderedDict

import numpy as np
import torch

from . import _fovea

__all__ = ["Model", "Core", "Readout", "ReadoutSession", "load_model", "kernel_set", "set_kernel_set"]


# ---- argument conversion -----------------------------------------------------

def _as_tensor(x, what="x"):
    """A torch.Tensor as it is; a NumPy array as a tensor (float32 unless it already is)."""
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(x))
        return t if t.dtype == torch.float32 else t.to(torch.float32)
    raise TypeError(f"{what} must be a torch.Tensor or a numpy.ndarray, not {type(x).__name__}")


def _data_key(data_key):
    if data_key is None:
        return ""
    if not isinstance(data_key, str):
        raise TypeError(f"data_key must be a str or None, not {type(data_key).__name__}")
    return data_key


def _path(path, what):
    if isinstance(path, (str, os.PathLike)):
        return os.fspath(path)
    raise TypeError(f"{what} must be a str or os.PathLike, not {type(path).__name__}")


def _device(device):
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be a str or torch.device, not {type(device).__name__}")
    try:
        return str(torch.device(device))
    except RuntimeError as e:
        raise ValueError(f"device: {e}") from None


def _int(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    return int(value)


def _figure(raw):
    """A matplotlib Figure showing fovea's rendered figure when matplotlib is
    importable; otherwise the image as a (height, width, 3) uint8 array."""
    pixels = raw.pixels().numpy()
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        return pixels
    dpi = 100.0
    fig = plt.figure(figsize=(raw.width / dpi, raw.height / dpi), dpi=dpi)
    ax = fig.add_axes([0.0, 0.0, 1.0, 1.0])
    ax.imshow(pixels, interpolation="nearest")
    ax.set_axis_off()
    # The recorded figure, for writing it as SVG or PDF: fig.fovea_figure.save("w.svg").
    fig.fovea_figure = raw
    return fig


def _named(pairs, prefix):
    for name, tensor in pairs:
        yield (prefix + "." + name if prefix else name), tensor


# ---- the model -------------------------------------------------------------------

class Model:
    """A fovea model: a core shared by all neurons and a readout per session.

    Get one with :func:`load_model`. Calling it runs the forward pass on a
    stimulus batch and returns the responses as a ``torch.Tensor`` with autograd
    intact: movies (batch, channels, time, height, width) give (batch, time,
    neurons); images (batch, channels, height, width) give (batch, neurons).

    Parameter and buffer names equal the reference implementation's state-dict
    keys (``core.features.layer0.conv.weight``, ``readout.session_a.mask_mean``, ...).
    """

    def __init__(self, impl, name=""):
        if not isinstance(impl, _fovea._Model):
            raise TypeError("fovea.Model wraps a loaded model; use fovea.load_model(...)")
        self._impl = impl
        self._name = name
        self.core = Core(self)
        self.readout = Readout(self)

    # -- calling ----------------------------------------------------------------
    def forward(self, x, data_key=None):
        """Responses of the neurons of session ``data_key`` to the stimulus batch ``x``.

        ``x`` is a torch.Tensor or a NumPy array (converted to float32), shaped as
        :meth:`stimulus_shape` says. ``data_key=None`` runs every session (or the
        only one). The result keeps the autograd graph: with ``x.requires_grad_()``,
        ``model(x)[0, n].backward()`` leaves the gradient of neuron n in ``x.grad``.
        Raises fovea.Error for an unknown session.
        """
        x = _as_tensor(x)
        key = _data_key(data_key)
        self._impl.check_session(key, self._name or "model")
        return self._impl.forward(x, key)

    def __call__(self, x, data_key=None):
        """Same as :meth:`forward`."""
        return self.forward(x, data_key)

    # -- shape and sessions --------------------------------------------------------
    def readout_keys(self):
        """The session names (data keys), sorted; ``['']`` for a single-session model."""
        return list(self._impl.readout_keys())

    def stimulus_shape(self, time_steps, num_batches=1):
        """The shape of a stimulus batch, as openretina's ``stimulus_shape``:
        (num_batches, channels, time_steps, height, width) for movie (retina)
        models; image (V1) models ignore time_steps: (num_batches, channels, height, width)."""
        return tuple(self._impl.stimulus_shape(_int(time_steps, "time_steps"), _int(num_batches, "num_batches")))

    @property
    def input_shape(self):
        """The input shape the model was built for, without the batch axis."""
        return tuple(self._impl.input_shape())

    def n_neurons(self, data_key=None):
        """The number of neurons of session ``data_key`` (all sessions for None)."""
        return self._impl.n_neurons(_data_key(data_key))

    @property
    def spec(self):
        """The model's spec (core, readout, input_shape, provenance, ...) as a dict."""
        return json.loads(self._impl.spec_json())

    @property
    def name(self):
        """The name, path or URL the model was loaded from."""
        return self._name

    # -- parameters ----------------------------------------------------------------
    def named_parameters(self, prefix="", recurse=True):
        """(name, tensor) for every parameter; the tensors share memory and
        gradients with the C++ model. ``recurse`` is accepted for PyTorch's signature."""
        return _named(self._impl.named_parameters(""), prefix)

    def parameters(self, recurse=True):
        """The parameter tensors (see :meth:`named_parameters`): pass them to a torch.optim optimiser."""
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self, prefix="", recurse=True):
        """(name, tensor) for every buffer (BatchNorm statistics, grids, ...)."""
        return _named(self._impl.named_buffers(""), prefix)

    def buffers(self, recurse=True):
        """The buffer tensors."""
        for _, b in self.named_buffers():
            yield b

    def state_dict(self, keep_vars=False):
        """An OrderedDict name -> tensor of every parameter and buffer, keyed as
        the reference state dict. The tensors share memory with the model;
        detached unless ``keep_vars``."""
        return OrderedDict((k, v if keep_vars else v.detach()) for k, v in self._impl.state_dict())

    def load_state_dict(self, state_dict, strict=True):
        """Copies tensors (torch or NumPy) into the model. Every model tensor must be
        present with its shape; extra entries are errors when ``strict``.
        Raises fovea.Error naming the offending key."""
        if not hasattr(state_dict, "items"):
            raise TypeError(f"state_dict must be a mapping of name -> tensor, not {type(state_dict).__name__}")
        pairs = [(str(k), _as_tensor(v, f"state_dict[{k!r}]")) for k, v in state_dict.items()]
        self._impl.load_state_dict(pairs, "load_state_dict", not strict)

    def requires_grad_(self, requires_grad=True):
        """Sets requires_grad on every parameter (False freezes the model, e.g. for MEIs). Returns self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=False):
        """Clears the parameters' gradients."""
        for p in self.parameters():
            if p.grad is not None:
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.detach_()
                    p.grad.zero_()

    def n_parameters(self, trainable_only=False):
        """The number of parameter elements (only those with requires_grad if ``trainable_only``)."""
        return self._impl.n_parameters(bool(trainable_only))

    # -- mode and device -------------------------------------------------------------
    def train(self, mode=True):
        """Training mode (BatchNorm uses batch statistics, dropout is on) or, with False, eval mode. Returns self."""
        if not isinstance(mode, bool):
            raise TypeError(f"mode must be a bool, not {type(mode).__name__}")
        self._impl.train(mode)
        return self

    def eval(self):
        """Eval mode (the mode :func:`load_model` returns models in). Returns self."""
        return self.train(False)

    @property
    def training(self):
        """True in training mode."""
        return self._impl.is_training()

    def to(self, device):
        """Moves the parameters and buffers to ``device`` ('cpu', 'cuda', torch.device) in place. Returns self."""
        self._impl.to(_device(device))
        return self

    @property
    def device(self):
        """The device of the model's parameters."""
        for p in self.parameters():
            return p.device
        return torch.device("cpu")

    # -- files and summaries -----------------------------------------------------------
    def save(self, path):
        """Writes the model as one fovea .safetensors file (weights + spec), atomically.
        ``fovea.load_model(path)``, the ``fovea`` command and ``safetensors`` read it."""
        self._impl.save(_path(path, "path"))

    def info(self):
        """What ``fovea info`` shows, as a dict: family, core, readout, input shape,
        neurons per session, parameter counts and the training provenance."""
        spec = self.spec
        core = sum(p.numel() for _, p in self._impl.named_parameters("core"))
        readout = sum(p.numel() for _, p in self._impl.named_parameters("readout"))
        out = {
            "model": self._name,
            "family": spec.get("family", "?"),
            "core": spec.get("core"),
            "readout": spec.get("readout"),
            "input_shape": spec.get("input_shape"),
            "sessions": {k: self._impl.n_neurons(k) for k in self.readout_keys()},
            "parameters": self.n_parameters(),
            "trainable_parameters": self.n_parameters(True),
            "core_parameters": core,
            "readout_parameters": readout,
        }
        if "provenance" in spec:
            out["provenance"] = spec["provenance"]
        return out

    def __repr__(self):
        keys = self.readout_keys()
        sessions = ", ".join(f"{k or '(single)'}: {self._impl.n_neurons(k)}" for k in keys)
        core = self.spec.get("core", {}).get("type", "?")
        readout = self.spec.get("readout", {}).get("type", "?")
        return (f"fovea.Model({self._name!r}, core={core}, readout={readout}, input_shape={self.input_shape}, "
                f"neurons={{{sessions}}})")


class Core:
    """The model's core (``model.core``): the feature extractor shared by all neurons."""

    def __init__(self, model):
        self._model = model

    def __call__(self, x, data_key=None):
        """The core's output (features) for the stimulus batch ``x``, with autograd intact.
        ``data_key`` matters only for cores with per-session parameters."""
        return self._model._impl.core_forward(_as_tensor(x), _data_key(data_key))

    def named_parameters(self, prefix="", recurse=True):
        """(name, tensor) for the core's parameters, named relative to the core (``features.layer0...``)."""
        return _named(self._model._impl.named_parameters("core"), prefix)

    def parameters(self, recurse=True):
        """The core's parameter tensors."""
        for _, p in self.named_parameters():
            yield p

    def plot_weight_visualization(self, layer, in_channel, out_channel):
        """The weights of channel ``in_channel`` -> ``out_channel`` of core layer ``layer``,
        as openretina's ``core.plot_weight_visualization`` draws them (retina cores: spatial
        kernel, temporal kernel and its spectrum; V1 cores: output channel ``out_channel``).

        Returns a matplotlib Figure when matplotlib is importable (its ``fovea_figure``
        attribute saves the original as PNG/SVG/PDF/JPEG), otherwise the image as a
        (height, width, 3) uint8 NumPy array. Raises fovea.Error for a layer or
        channel out of range."""
        raw = self._model._impl.plot_weight_visualization(
            _int(layer, "layer"), _int(in_channel, "in_channel"), _int(out_channel, "out_channel"))
        return _figure(raw)

    def __repr__(self):
        return f"fovea.Core({self._model.spec.get('core', {}).get('type', '?')})"


class Readout:
    """The model's readout (``model.readout``): one per session, indexed by data key,
    ``model.readout[session_key]``, as openretina's multi-session readouts."""

    def __init__(self, model):
        self._model = model

    def __call__(self, features, data_key=None):
        """Responses of session ``data_key`` (all for None) to core features, with autograd intact."""
        return self._model._impl.readout_forward(_as_tensor(features, "features"), _data_key(data_key))

    def readout_keys(self):
        """The session names (data keys), sorted."""
        return self._model.readout_keys()

    def keys(self):
        """Same as :meth:`readout_keys`."""
        return self.readout_keys()

    def __getitem__(self, data_key):
        key = _data_key(data_key)
        keys = self.readout_keys()
        if key not in keys and not (key == "" and keys == [""]):
            raise KeyError(f"{data_key!r}: the model's sessions are {', '.join(keys)}")
        return ReadoutSession(self._model, key)

    def __contains__(self, data_key):
        return isinstance(data_key, str) and data_key in self.readout_keys()

    def __iter__(self):
        return iter(self.readout_keys())

    def __len__(self):
        return len(self.readout_keys())

    def named_parameters(self, prefix="", recurse=True):
        """(name, tensor) for the readout's parameters, named relative to the readout."""
        return _named(self._model._impl.named_parameters("readout"), prefix)

    def parameters(self, recurse=True):
        """The readout's parameter tensors."""
        for _, p in self.named_parameters():
            yield p

    def __repr__(self):
        return f"fovea.Readout({self._model.spec.get('readout', {}).get('type', '?')}, sessions={self.readout_keys()})"


class ReadoutSession:
    """The readout of one session (``model.readout[data_key]``)."""

    def __init__(self, model, data_key):
        self._model = model
        self.data_key = data_key

    def __call__(self, features):
        """This session's responses to core features, with autograd intact."""
        return self._model._impl.readout_forward(_as_tensor(features, "features"), self.data_key)

    @property
    def n_neurons(self):
        """The session's number of neurons."""
        return self._model._impl.n_neurons(self.data_key)

    @property
    def outdims(self):
        """The session's number of neurons (openretina's name)."""
        return self.n_neurons

    def plot_weight_for_neuron(self, neuron):
        """The readout weights of neuron ``neuron`` (the Gaussian readouts: spatial mask
        and feature weights), as openretina's ``plot_weight_for_neuron``.

        Returns a matplotlib Figure when matplotlib is importable, otherwise the image as a
        (height, width, 3) uint8 NumPy array. Raises fovea.Error for a neuron out of range."""
        return _figure(self._model._impl.plot_weight_for_neuron(self.data_key, _int(neuron, "neuron")))

    def __repr__(self):
        return f"fovea.ReadoutSession({self.data_key!r}, neurons={self.n_neurons})"


# ---- loading and process-wide settings ---------------------------------------------

def load_model(name_or_path_or_url, device="cpu", input_hw=None):
    """Loads a model, as ``fovea info``/``fovea predict`` do.

    ``name_or_path_or_url``: a fovea ``.safetensors`` file, a reference checkpoint
    (minimodel ``.pt`` state dict, openretina ``.ckpt``), an http(s) URL of one
    (downloaded once into the cache), or a pretrained model's name
    (``"hoefling_2024_base_low_res"``, ``"hoefling_2024_ensemble"``...).
    ``device``: where the model runs ('cpu', 'cuda', a torch.device).
    ``input_hw``: (height, width) of the input for minimodel state dicts, which do
    not record it (inferred from the readout size by default).

    Returns a :class:`Model` in eval mode. Raises fovea.Error when the file is
    missing or not a model (the message names it), TypeError for arguments of
    the wrong type."""
    name = _path(name_or_path_or_url, "name_or_path_or_url")
    dev = _device(device)
    hw = []
    if input_hw is not None:
        if not isinstance(input_hw, (tuple, list)) or len(input_hw) != 2:
            raise ValueError("input_hw must be (height, width)")
        hw = [_int(v, "input_hw") for v in input_hw]
    model = Model(_fovea._load_any_model(name, hw), name)
    if dev != "cpu":
        model.to(dev)
    return model


def kernel_set():
    """The kernels fovea's layers run on: 'fast' (fovea's CPU kernels, the default) or
    'reference' (LibTorch's ops, computed as openretina/minimodel compute them)."""
    return _fovea._kernel_set()


def set_kernel_set(name):
    """Selects 'fast' or 'reference' kernels for the whole process (the command line's
    ``--kernels``; fovea's caching allocator is not switched on from Python)."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, not {type(name).__name__}")
    if name not in ("fast", "reference"):
        raise ValueError(f"kernel set must be 'fast' or 'reference', not {name!r}")
    _fovea._set_kernel_set(name)
