"""fovea models from Python: load, call (with autograd), train, save, draw.

A :class:`Model` wraps the C++ model (a core shared by all neurons and a
readout per session). It is a ``torch.nn.Module`` whose parameters are the C++
model's tensors (shared memory), so ``torch.optim`` optimisers over
``model.parameters()`` train it, and calling the model records an autograd
graph that ``backward()`` runs through fovea's layers.

:class:`Core`, :class:`Readout` and :class:`CoreReadout` compose your own
``torch.nn.Module`` cores and readouts with each other and with a fovea
model's (``model.core``, ``model.readout``), as openretina's classes of the
same names. openretina's loaders are here under their names too:
:func:`load_core_readout_from_remote` and :func:`load_core_readout_model`.
"""
import json
import os
from collections import OrderedDict

import numpy as np
import torch

from .. import _fovea

__all__ = ["Model", "Core", "Readout", "CoreReadout", "ModelCore", "ModelReadout", "ReadoutSession", "load_model",
           "build_model", "load_core_readout_from_remote", "load_core_readout_model", "kernel_set", "set_kernel_set"]


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


# ---- base classes: compose your own torch.nn.Module cores and readouts ------------

def _zero_like_parameters(module):
    for p in module.parameters():
        return torch.zeros((), dtype=p.dtype, device=p.device)
    return torch.zeros(())


class Core(torch.nn.Module):
    """Base class of cores (openretina's ``openretina.modules.core.base_core.Core``).

    A core is a ``torch.nn.Module`` that maps a stimulus batch to features.
    Subclass it for your own core: define ``forward(x)`` and, so that
    :class:`CoreReadout` can tell the stimulus shape, ``stimulus_shape(time_steps,
    num_batches=1)``. The core of a loaded fovea model is a :class:`ModelCore`,
    a subclass; either kind goes into :class:`CoreReadout` with either kind of readout.
    """

    def forward(self, x):
        """The core's features for the stimulus batch ``x``; subclasses define it."""
        raise NotImplementedError(f"{type(self).__name__} must define forward(x)")

    def stimulus_shape(self, time_steps, num_batches=1):
        """The shape of a stimulus batch this core takes; subclasses that know it define it."""
        raise NotImplementedError(f"{type(self).__name__} does not define stimulus_shape(time_steps, num_batches=1)")

    def regularizer(self):
        """The core's regularisation term (0 unless a subclass defines one)."""
        return _zero_like_parameters(self)


class Readout(torch.nn.Module):
    """Base class of readouts (openretina's ``openretina.modules.readout.base.Readout``).

    A readout is a ``torch.nn.Module`` that maps core features to neuron
    responses. Subclass it for your own readout: define ``forward(x)`` (or
    ``forward(x, data_key=None)`` for a readout with several sessions). The
    readout of a loaded fovea model is a :class:`ModelReadout`, one per session.
    """

    def forward(self, x, data_key=None):
        """The responses to the core features ``x``; subclasses define it."""
        raise NotImplementedError(f"{type(self).__name__} must define forward(x)")

    def regularizer(self, data_key=None):
        """The readout's regularisation term (0 unless a subclass defines one)."""
        return _zero_like_parameters(self)

    def readout_keys(self):
        """The session names (data keys); ``['']`` for a readout with a single session."""
        return [""]


def _register_library_tensors(module, impl, which):
    """Puts the C++ model's tensors of `which` ('core', 'readout' or '') into the
    torch module's parameter and buffer tables, under their dotted reference names:
    they are the C++ tensors themselves (shared memory and gradients), so torch's
    parameters(), state_dict(), requires_grad_(), zero_grad() and optimisers work."""
    module._parameters.clear()
    module._buffers.clear()
    for name, tensor in impl.named_parameters(which):
        module._parameters[name] = tensor
    for name, tensor in impl.named_buffers(which):
        module._buffers[name] = tensor


def _library_apply(module, fn):
    """torch's Module._apply (``.to(...)``, ``.cuda()``, ``.float()``) for tensors that
    live in the C++ model: a move to another device moves the whole C++ model; fovea's
    models are float32, so other dtypes are refused."""
    for tensor in list(module._parameters.values()) + list(module._buffers.values()):
        moved = fn(tensor)
        if moved.dtype != tensor.dtype:
            raise TypeError(f"fovea models run in {tensor.dtype}; converting them to {moved.dtype} is not supported")
        if moved.device != tensor.device:
            module._impl.to(str(moved.device))
            return module
    return module


class ModelCore(Core):
    """The core of a fovea model (``model.core``): the library's feature extractor,
    shared by all neurons. Its parameters are the C++ model's tensors (shared
    memory and gradients), named relative to the core (``features.layer0...``)."""

    def __init__(self, impl, name=""):
        super().__init__()
        self._impl = impl
        self._model_name = name
        _register_library_tensors(self, impl, "core")
        self.training = impl.is_training()

    def forward(self, x, data_key=None):
        """The core's output (features) for the stimulus batch ``x``, with autograd intact.
        ``data_key`` matters only for cores with per-session parameters."""
        return self._impl.core_forward(_as_tensor(x), _data_key(data_key))

    def stimulus_shape(self, time_steps, num_batches=1):
        """The shape of a stimulus batch for this core, as :meth:`Model.stimulus_shape`."""
        return tuple(self._impl.stimulus_shape(_int(time_steps, "time_steps"), _int(num_batches, "num_batches")))

    def train(self, mode=True):
        """Training (True) or eval (False) mode of the library's core. Returns self."""
        if not isinstance(mode, bool):
            raise TypeError(f"mode must be a bool, not {type(mode).__name__}")
        self._impl.train_submodule("core", mode)
        self.training = mode
        return self

    def _apply(self, fn):
        return _library_apply(self, fn)

    def plot_weight_visualization(self, layer, in_channel, out_channel):
        """The weights of channel ``in_channel`` -> ``out_channel`` of core layer ``layer``,
        as openretina's ``core.plot_weight_visualization`` draws them (retina cores: spatial
        kernel, temporal kernel and its spectrum; V1 cores: output channel ``out_channel``).

        Returns a matplotlib Figure when matplotlib is importable (its ``fovea_figure``
        attribute saves the original as PNG/SVG/PDF/JPEG), otherwise the image as a
        (height, width, 3) uint8 NumPy array. Raises fovea.Error for a layer or
        channel out of range."""
        raw = self._impl.plot_weight_visualization(
            _int(layer, "layer"), _int(in_channel, "in_channel"), _int(out_channel, "out_channel"))
        return _figure(raw)

    def __repr__(self):
        return f"fovea.ModelCore({json.loads(self._impl.spec_json()).get('core', {}).get('type', '?')})"


class ModelReadout(Readout):
    """The readout of a fovea model (``model.readout``): one per session, indexed by
    data key, ``model.readout[session_key]``, as openretina's multi-session readouts.
    Its parameters are the C++ model's tensors (``session_a.mask_mean``, ...)."""

    def __init__(self, impl, name=""):
        super().__init__()
        self._impl = impl
        self._model_name = name
        _register_library_tensors(self, impl, "readout")
        self.training = impl.is_training()

    def forward(self, features, data_key=None):
        """Responses of session ``data_key`` (all for None) to core features, with autograd intact.
        Raises fovea.Error for an unknown session."""
        key = _data_key(data_key)
        self._impl.check_session(key, self._model_name or "readout")
        return self._impl.readout_forward(_as_tensor(features, "features"), key)

    def train(self, mode=True):
        """Training (True) or eval (False) mode of the library's readout. Returns self."""
        if not isinstance(mode, bool):
            raise TypeError(f"mode must be a bool, not {type(mode).__name__}")
        self._impl.train_submodule("readout", mode)
        self.training = mode
        return self

    def _apply(self, fn):
        return _library_apply(self, fn)

    def readout_keys(self):
        """The session names (data keys), sorted."""
        return list(self._impl.readout_keys())

    def keys(self):
        """Same as :meth:`readout_keys`."""
        return self.readout_keys()

    def n_neurons(self, data_key=None):
        """The number of neurons of session ``data_key`` (all sessions for None)."""
        return self._impl.n_neurons(_data_key(data_key))

    def __getitem__(self, data_key):
        key = _data_key(data_key)
        keys = self.readout_keys()
        if key not in keys and not (key == "" and keys == [""]):
            raise KeyError(f"{data_key!r}: the model's sessions are {', '.join(keys)}")
        return ReadoutSession(self._impl, key)

    def __contains__(self, data_key):
        return isinstance(data_key, str) and data_key in self.readout_keys()

    def __iter__(self):
        return iter(self.readout_keys())

    def __len__(self):
        return len(self.readout_keys())

    def __repr__(self):
        spec = json.loads(self._impl.spec_json())
        return f"fovea.ModelReadout({spec.get('readout', {}).get('type', '?')}, sessions={self.readout_keys()})"


class ReadoutSession:
    """The readout of one session (``model.readout[data_key]``)."""

    def __init__(self, impl, data_key):
        self._impl = impl
        self.data_key = data_key

    def __call__(self, features):
        """This session's responses to core features, with autograd intact."""
        return self._impl.readout_forward(_as_tensor(features, "features"), self.data_key)

    @property
    def n_neurons(self):
        """The session's number of neurons."""
        return self._impl.n_neurons(self.data_key)

    @property
    def outdims(self):
        """The session's number of neurons (openretina's name)."""
        return self.n_neurons

    def plot_weight_for_neuron(self, neuron):
        """The readout weights of neuron ``neuron`` (the Gaussian readouts: spatial mask
        and feature weights), as openretina's ``plot_weight_for_neuron``.

        Returns a matplotlib Figure when matplotlib is importable, otherwise the image as a
        (height, width, 3) uint8 NumPy array. Raises fovea.Error for a neuron out of range."""
        return _figure(self._impl.plot_weight_for_neuron(self.data_key, _int(neuron, "neuron")))

    def __repr__(self):
        return f"fovea.ReadoutSession({self.data_key!r}, neurons={self.n_neurons})"


class CoreReadout(torch.nn.Module):
    """A core and a readout composed into one model (openretina's ``CoreReadout``):
    ``forward(x, data_key=None)`` is ``readout(core(x))``.

    Either part may be your own ``torch.nn.Module`` (best a subclass of :class:`Core`
    or :class:`Readout`) or a part of a fovea model (``model.core``, ``model.readout``),
    so a fovea core can feed your readout and your core can feed a fovea readout;
    gradients flow through both. ``parameters()`` gives both parts' parameters.

        >>> core, readout = MyCore(), fovea_model.readout
        >>> model = CoreReadout(core=core, readout=readout)
        >>> y = model(torch.randn(model.stimulus_shape(time_steps=50)), data_key="session_a")
    """

    def __init__(self, core, readout):
        super().__init__()
        for what, part in (("core", core), ("readout", readout)):
            if not isinstance(part, torch.nn.Module):
                raise TypeError(f"{what} must be a torch.nn.Module, not {type(part).__name__}")
        self.core = core
        self.readout = readout

    def forward(self, x, data_key=None):
        """The responses to the stimulus batch ``x`` (a torch.Tensor or NumPy array).

        ``data_key`` selects the readout's session: fovea readouts take it (None = all
        sessions); your own readout gets it as ``data_key=`` only when it is given."""
        x = _as_tensor(x)
        features = self.core(x, data_key) if isinstance(self.core, ModelCore) else self.core(x)
        if isinstance(self.readout, ModelReadout) or data_key is not None:
            return self.readout(features, data_key=data_key)
        return self.readout(features)

    def stimulus_shape(self, time_steps, num_batches=1):
        """The shape of a stimulus batch, as openretina's ``stimulus_shape``: asked of the core."""
        return tuple(self.core.stimulus_shape(time_steps, num_batches))

    def readout_keys(self):
        """The readout's session names (``['']`` for a readout without sessions)."""
        keys = getattr(self.readout, "readout_keys", None)
        return list(keys()) if callable(keys) else [""]

    def n_neurons(self, data_key=None):
        """The number of neurons of session ``data_key``, as the readout tells it: its
        ``n_neurons(data_key)`` method (fovea readouts) or its ``n_neurons``,
        ``num_neurons`` or ``outdims`` attribute. TypeError when it tells none."""
        method = getattr(self.readout, "n_neurons", None)
        if callable(method):
            return int(method(data_key))
        for attribute in ("n_neurons", "num_neurons", "outdims"):
            value = getattr(self.readout, attribute, None)
            if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
                return int(value)
        raise TypeError(f"the readout {type(self.readout).__name__} does not tell its number of neurons: give it an "
                        "n_neurons(data_key) method or an n_neurons, num_neurons or outdims attribute")

    def regularizer(self, data_key=None):
        """The core's plus the readout's regularisation terms, where they define them."""
        total = torch.zeros(())
        for part, args in ((self.core, ()), (self.readout, (data_key,) if data_key is not None else ())):
            reg = getattr(part, "regularizer", None)
            if callable(reg) and not isinstance(part, (ModelCore, ModelReadout)):
                total = total + reg(*args)
        return total


# ---- the model loaded from a file, URL or name -------------------------------------

class Model(CoreReadout):
    """A fovea model: a core shared by all neurons and a readout per session.

    Get one with :func:`load_model` (or openretina's names,
    :func:`load_core_readout_from_remote`, :func:`load_core_readout_model`). It is
    a ``torch.nn.Module`` (a :class:`CoreReadout` of a :class:`ModelCore` and a
    :class:`ModelReadout`) whose parameters and buffers are the C++ model's tensors:
    they share memory and gradients, so ``torch.optim`` optimisers over
    ``model.parameters()`` train it and it can sit inside your own modules.

    Calling it runs the forward pass on a stimulus batch and returns the responses
    as a ``torch.Tensor`` with autograd intact: movies (batch, channels, time,
    height, width) give (batch, time, neurons); images (batch, channels, height,
    width) give (batch, neurons).

    Parameter and buffer names equal the reference implementation's state-dict
    keys (``core.features.layer0.conv.weight``, ``readout.session_a.mask_mean``, ...).
    """

    def __init__(self, impl, name=""):
        if not isinstance(impl, _fovea._Model):
            raise TypeError("fovea.Model wraps a loaded model; use fovea.load_model(...)")
        super().__init__(ModelCore(impl, name), ModelReadout(impl, name))
        self._impl = impl
        self._name = name
        self.training = impl.is_training()

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
    def load_state_dict(self, state_dict, strict=True):
        """Copies tensors (torch or NumPy) into the model. Every model tensor must be
        present with its shape; extra entries are errors when ``strict``.
        Raises fovea.Error naming the offending key."""
        if not hasattr(state_dict, "items"):
            raise TypeError(f"state_dict must be a mapping of name -> tensor, not {type(state_dict).__name__}")
        pairs = [(str(k), _as_tensor(v, f"state_dict[{k!r}]")) for k, v in state_dict.items()]
        self._impl.load_state_dict(pairs, "load_state_dict", not strict)

    def n_parameters(self, trainable_only=False):
        """The number of parameter elements (only those with requires_grad if ``trainable_only``)."""
        return self._impl.n_parameters(bool(trainable_only))

    # -- mode and device -------------------------------------------------------------
    def train(self, mode=True):
        """Training mode (BatchNorm uses batch statistics, dropout is on) or, with False, eval mode. Returns self."""
        if not isinstance(mode, bool):
            raise TypeError(f"mode must be a bool, not {type(mode).__name__}")
        self._impl.train(mode)
        for module in self.modules():
            module.training = mode
        return self

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


def _library_model(model, data_key=None, what="model"):
    """The library model that objectives run on: the C++ model behind a fovea model (a
    Model, or a CoreReadout of one model's core and readout); for any other
    torch.nn.Module taking ``(x, data_key=...)`` (a CoreReadout with your own core or
    readout), a library model whose forward pass calls it, with the neuron count of
    session ``data_key`` from its ``n_neurons(data_key)``. TypeError for anything else."""
    if isinstance(model, Model):
        return model._impl
    if (isinstance(model, CoreReadout) and isinstance(model.core, ModelCore)
            and isinstance(model.readout, ModelReadout) and model.core._impl is model.readout._impl):
        return model.core._impl
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{what} must be a fovea model (fovea.load_model, load_core_readout_from_remote) or a "
                        f"torch.nn.Module such as a CoreReadout, not {type(model).__name__}")
    counter = getattr(model, "n_neurons", None)
    if not callable(counter):
        raise TypeError(f"{what} {type(model).__name__} does not tell its number of neurons: use a CoreReadout or "
                        "give it an n_neurons(data_key) method")
    key = _data_key(data_key)

    def forward(x, session):
        return model(x) if session is None else model(x, data_key=session)

    return _fovea._python_model(forward, {key: int(counter(data_key))})


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


def build_model(spec, device="cpu"):
    """A new model with freshly initialised weights from a spec: a dict as
    :attr:`Model.spec` holds it (``core``, ``readout``, ``input_shape``, ...), e.g. a
    loaded model's spec with another session layout. Returns a :class:`Model` in eval
    mode; fovea.Error naming what is wrong in the spec."""
    if not isinstance(spec, dict):
        raise TypeError(f"spec must be a dict, not {type(spec).__name__}")
    try:
        text = json.dumps(spec)
    except (TypeError, ValueError) as e:
        raise ValueError(f"spec must be JSON-serialisable: {e}") from None
    dev = _device(device)
    impl = _fovea._build_model(text)
    impl.train(False)
    model = Model(impl, "")
    if dev != "cpu":
        model.to(dev)
    return model


def load_core_readout_from_remote(model_name, device="cpu"):
    """openretina's loader of a published model: ``model_name`` is a pretrained model's
    name (``"hoefling_2024_base_low_res"``, ...; fetched once from openretina's model
    store, or from ``$FOVEA_MODEL_BASE_URL`` when set, into the cache
    ``$FOVEA_CACHE_DIR``) or an http(s) URL of a checkpoint. Same as :func:`load_model`:
    returns a :class:`Model` in eval mode; fovea.Error for an unknown name (listing
    the known ones) or a failed download."""
    return load_model(model_name, device)


def load_core_readout_model(path, device="cpu"):
    """openretina's loader of a checkpoint file: an openretina ``.ckpt`` (or any model
    :func:`load_model` reads). Returns a :class:`Model` in eval mode; fovea.Error when
    the file is missing or not a model."""
    return load_model(path, device)


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
