"""In-silico experiments on fovea models, with openretina's names and signatures
(``openretina.insilico``): objectives, response reducers, stimulus constraints,
stopping criteria and :func:`optimize_stimulus`.

The computations are the C++ library's (``include/fovea/insilico``, the code
behind ``fovea mei``): an objective's value is a ``torch.Tensor`` computed by
fovea's layers with autograd intact, so ``objective.forward(x).backward()``
leaves d(objective)/dx in ``x.grad``. :func:`optimize_stimulus` runs the loop
around your own torch optimiser:

    >>> from functools import partial
    >>> objective = IncreaseObjective(model, neuron_indices=[3], data_key="session_a",
    ...                               response_reducer=SliceMeanReducer(axis=0, start=10, length=10))
    >>> stimulus = (torch.randn(model.stimulus_shape(time_steps=40)) * 0.1).requires_grad_()
    >>> optimize_stimulus(stimulus, partial(torch.optim.SGD, lr=100.0), objective,
    ...                   OptimizationStopper(max_iterations=10))

Errors the library reports (an unknown session, a neuron out of range, a
stimulus with the wrong channel count) are :class:`fovea.Error`; arguments of
the wrong type are ``TypeError``, impossible values ``ValueError``.
"""
import math
import numbers
import sys

import numpy as np
import torch

from . import _fovea
from .models import _as_tensor, _data_key, _library_model

__all__ = [
    "optimize_stimulus",
    "IncreaseObjective",
    "ContrastiveNeuronObjective",
    "InnerNeuronVisualizationObjective",
    "AbstractObjective",
    "ResponseReducer",
    "MeanReducer",
    "SliceMeanReducer",
    "OptimizationStopper",
    "EarlyStopper",
    "StimulusRegularizationLoss",
    "RangeRegularizationLoss",
    "StimulusPostprocessor",
    "ChangeNormJointlyClipRangeSeparately",
    "TemporalGaussianLowPassFilterProcessor",
    "LowPassFilterProcessor",
]


# ---- argument checks ----------------------------------------------------------------

def _int(value, what, minimum=None):
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{what} must be >= {minimum}, got {value}")
    return value


def _float(value, what):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a number, not {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{what} must be finite, got {value}")
    return value


def _optional_float(value, what):
    return None if value is None else _float(value, what)


def _indices(value, what):
    """An int or a sequence of ints (a list, tuple, NumPy or torch integer array) -> list of int."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        value = value.tolist()
    if isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, bool):
        return [int(value)]
    if isinstance(value, (list, tuple, range)):
        return [_int(v, f"{what}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"{what} must be an int or a list of ints, not {type(value).__name__}")


def _ranges(min_max_values, what="min_max_values"):
    """[(min or None, max or None), ...] per channel."""
    try:
        pairs = list(min_max_values)
    except TypeError:
        raise TypeError(f"{what} must be a list of (min, max) pairs, one per channel, "
                        f"not {type(min_max_values).__name__}") from None
    out = []
    for c, pair in enumerate(pairs):
        try:
            lo, hi = pair
        except (TypeError, ValueError):
            raise TypeError(f"{what}[{c}] must be a (min, max) pair, not {pair!r}") from None
        lo = _optional_float(lo, f"{what}[{c}] min")
        hi = _optional_float(hi, f"{what}[{c}] max")
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(f"{what}[{c}]: min {lo} is larger than max {hi}")
        out.append((lo, hi))
    return out


# ---- response reducers ------------------------------------------------------------------

class ResponseReducer(_fovea._ResponseReducer):
    """Base class of response reducers: ``forward(responses)`` turns a response trace
    (time, ...) into the score an objective maximises. Subclass it and define
    ``forward`` to write your own; the library's objectives call it."""

    def __init__(self):
        super().__init__()

    def __call__(self, responses):
        """Same as ``forward``."""
        return self.forward(_as_tensor(responses, "responses"))


class MeanReducer(_fovea._MeanReducer):
    """The mean along ``axis`` (openretina's ``MeanReducer(axis=0)``)."""

    def __init__(self, axis=0):
        self.axis = _int(axis, "axis")
        super().__init__(self.axis)

    def forward(self, responses):
        """The mean of ``responses`` along the axis, with autograd intact."""
        return super().forward(_as_tensor(responses, "responses"))

    __call__ = forward

    def __repr__(self):
        return f"MeanReducer(axis={self.axis})"


class SliceMeanReducer(_fovea._SliceMeanReducer):
    """The mean of ``length`` entries from ``start`` along ``axis`` (openretina's
    ``SliceMeanReducer(axis, start, length)``): the seed recipe's
    ``SliceMeanReducer(axis=0, start=10, length=10)`` averages response frames 10..19.

    The window is clipped to the end of the axis; when ``start`` lies past the end
    it falls back to the first ``length`` entries (with a warning), as openretina does."""

    def __init__(self, axis, start, length):
        self.axis = _int(axis, "axis")
        self.start = _int(start, "start", 0)
        self.length = _int(length, "length", 1)
        super().__init__(self.axis, self.start, self.length)

    def forward(self, responses):
        """The mean of the window of ``responses``, with autograd intact."""
        return super().forward(_as_tensor(responses, "responses"))

    __call__ = forward

    def window(self, size):
        """(start, length) that this reducer averages over an axis of ``size`` entries."""
        return tuple(super().window(_int(size, "size", 0)))

    def __repr__(self):
        return f"SliceMeanReducer(axis={self.axis}, start={self.start}, length={self.length})"


def _reducer(value):
    if not isinstance(value, _fovea._ResponseReducer):
        raise TypeError("response_reducer must be a fovea.insilico reducer (MeanReducer, SliceMeanReducer or a "
                        f"ResponseReducer subclass), not {type(value).__name__}")
    return value


# ---- objectives -------------------------------------------------------------------------

class AbstractObjective:
    """Base class of objectives: ``forward(stimulus)`` returns the scalar that
    :func:`optimize_stimulus` maximises, with autograd intact."""

    def __init__(self, model, data_key=None):
        self._model = model
        self._data_key = data_key

    def forward(self, stimulus):
        """The objective's value for ``stimulus`` (batch 1)."""
        return self._impl.forward(_as_tensor(stimulus, "stimulus"))

    def __call__(self, stimulus):
        """Same as :meth:`forward`."""
        return self.forward(stimulus)

    def model_forward(self, stimulus):
        """The model's responses to ``stimulus`` without the batch axis, (time, neurons)
        (image models: (1, neurons)), as the library's objectives see them."""
        x = _as_tensor(stimulus, "stimulus")
        responses = self._model(x) if self._data_key is None else self._model(x, data_key=self._data_key)
        return responses.squeeze(0)


class IncreaseObjective(AbstractObjective):
    """The response of a group of neurons (openretina's ``IncreaseObjective``):
    ``response_reducer`` applied to the mean over ``neuron_indices`` of the model's
    responses to the stimulus (time, neurons).

    ``model``: a fovea model (:func:`fovea.load_model`) or a :class:`fovea.models.CoreReadout`
    with your own core or readout; ``neuron_indices``: an int or
    a list of ints of session ``data_key``; ``response_reducer``: e.g.
    ``SliceMeanReducer(axis=0, start=10, length=10)``. The stimulus must have batch
    size 1. fovea.Error for an unknown session or a neuron out of range."""

    def __init__(self, model, neuron_indices, data_key, response_reducer):
        super().__init__(model, data_key)
        impl = _library_model(model, data_key)
        self._neuron_indices = _indices(neuron_indices, "neuron_indices")
        self._response_reducer = _reducer(response_reducer)
        self._impl = _fovea._IncreaseObjective(impl, self._neuron_indices, _data_key(data_key), self._response_reducer)

    def __repr__(self):
        return (f"IncreaseObjective(neuron_indices={self._neuron_indices}, data_key={self._data_key!r}, "
                f"response_reducer={self._response_reducer!r})")


class ContrastiveNeuronObjective(AbstractObjective):
    """Most discriminative stimuli (Burg et al.; openretina's ``ContrastiveNeuronObjective``):
    with s_k the reduced response of a neuron group,
    ``obj = on/τ − logsumexp([on, off_1, …, off_k]/τ) + log(k+1)``.

    ``neuron_idx``: the "on" neuron (an int, or a list of ints averaged as one group)
    of session ``data_key``. ``off_indices_list``: the "off" groups (a list of lists of
    neuron indices); by default every other neuron of the session is its own group,
    as openretina contrasts one neuron with all others. ``temperature`` τ > 0."""

    def __init__(self, model, neuron_idx, data_key, response_reducer, temperature=1.6, off_indices_list=None):
        super().__init__(model, data_key)
        impl = _library_model(model, data_key)
        self._on = _indices(neuron_idx, "neuron_idx")
        self._temperature = _float(temperature, "temperature")
        if self._temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self._temperature}")
        self._response_reducer = _reducer(response_reducer)
        key = _data_key(data_key)
        if off_indices_list is None:
            n = impl.n_neurons(key)  # fovea.Error for an unknown session
            off = [[j] for j in range(n) if j not in self._on]
        else:
            if not isinstance(off_indices_list, (list, tuple)):
                raise TypeError(f"off_indices_list must be a list of lists of ints, not {type(off_indices_list).__name__}")
            off = [_indices(g, f"off_indices_list[{k}]") for k, g in enumerate(off_indices_list)]
        self._off = off
        self._impl = _fovea._ContrastiveNeuronObjective(impl, self._on, off, key, self._response_reducer,
                                                        self._temperature)

    @staticmethod
    def contrastive_objective(on_score, all_scores, temperature):
        """The formula on precomputed scores; ``all_scores[0]`` is the on score."""
        return _fovea._ContrastiveNeuronObjective.contrastive_objective(
            _as_tensor(on_score, "on_score"), _as_tensor(all_scores, "all_scores"), _float(temperature, "temperature"))


class InnerNeuronVisualizationObjective(AbstractObjective):
    """A channel of an inner core layer at the spatial centre (openretina's
    ``InnerNeuronVisualizationObjective``): ``response_reducer`` applied to the batch
    mean of the layer's output ``[:, channel, ..., H//2, W//2]``.

    Build it with ``(model, data_key, response_reducer)``, then choose the channel with
    :meth:`set_layer_channel`, e.g. ``set_layer_channel("core_features_layer0", 3)``.
    :attr:`features_dict` lists the layers (openretina's hook names)."""

    def __init__(self, model, data_key, response_reducer):
        super().__init__(model, data_key)
        self._model_impl = _library_model(model, data_key)
        self._response_reducer = _reducer(response_reducer)
        self.layer_name = ""
        self.channel_id = -1
        self._impl = None

    @property
    def features_dict(self):
        """{layer name: output channels} for the layers this model's core can look inside,
        named as openretina's hooks (``core_features_layer0``, ...)."""
        names = _fovea._InnerNeuronVisualizationObjective.layer_names(self._model_impl)
        return {"core_" + n.replace(".", "_"): _fovea._InnerNeuronVisualizationObjective.layer_channels(
            self._model_impl, i) for i, n in enumerate(names)}

    def set_layer_channel(self, layer, channel):
        """Selects channel ``channel`` of layer ``layer`` (``"core_features_layer0"``,
        ``"features.layer0"`` or ``"core.features.layer0"``). fovea.Error for an unknown
        layer (naming the known ones) or a channel out of range."""
        if not isinstance(layer, str):
            raise TypeError(f"layer must be a str, not {type(layer).__name__}")
        channel = _int(channel, "channel")
        self._impl = _fovea._InnerNeuronVisualizationObjective(self._model_impl, layer, channel,
                                                               self._response_reducer, _data_key(self._data_key))
        self.layer_name, self.channel_id = layer, channel

    def forward(self, stimulus):
        """The objective's value for ``stimulus`` (any batch size: the batch mean)."""
        if self._impl is None:
            raise ValueError("layer_name and channel_id not set: call set_layer_channel(layer, channel) first")
        return self._impl.forward(_as_tensor(stimulus, "stimulus"))


# ---- stimulus constraints ------------------------------------------------------------------

class StimulusRegularizationLoss:
    """Base class of losses on the stimulus that :func:`optimize_stimulus` adds to −objective:
    ``forward(stimulus)`` returns a scalar tensor."""

    def forward(self, stimulus):
        """The loss for ``stimulus``; subclasses define it."""
        raise NotImplementedError(f"{type(self).__name__} must define forward(stimulus)")

    def __call__(self, stimulus):
        return self.forward(stimulus)


class RangeRegularizationLoss(StimulusRegularizationLoss):
    """``factor · (Σ_c Σ relu(min_c − x_c) + relu(x_c − max_c) + relu(‖x‖₂ − max_norm))``
    (openretina's ``RangeRegularizationLoss``): ``min_max_values`` holds a (min, max)
    pair per channel (None: not enforced), ``max_norm`` may be None."""

    def __init__(self, min_max_values, max_norm, factor=1.0):
        self._min_max_values = _ranges(min_max_values)
        self._max_norm = _optional_float(max_norm, "max_norm")
        self._factor = _float(factor, "factor")
        self._impl = _fovea._RangeRegularizationLoss(self._min_max_values, self._max_norm, self._factor)

    def forward(self, stimulus):
        """The loss for ``stimulus`` (batch, channels, ...), with autograd intact."""
        return self._impl.forward(_as_tensor(stimulus, "stimulus"))


class StimulusPostprocessor:
    """Base class of postprocessors that :func:`optimize_stimulus` applies to the
    stimulus after every step: ``process(x)`` returns the new stimulus."""

    def process(self, x):
        """The processed stimulus; the base class returns ``x`` unchanged."""
        return x


class ChangeNormJointlyClipRangeSeparately(StimulusPostprocessor):
    """Rescales each sample to L2 norm ``norm`` (None: keeps it), then clamps channel c
    to ``min_max_values[c]`` (openretina's ``ChangeNormJointlyClipRangeSeparately``).
    The Höfling 2024 recipe: ``norm=30``, ``[(-0.654, 6.269), (-0.913, 6.269)]``.
    fovea.Error for a stimulus whose channel count differs from the ranges'."""

    def __init__(self, min_max_values, norm):
        self._min_max_values = _ranges(min_max_values)
        self._norm = _optional_float(norm, "norm")
        if self._norm is not None and self._norm <= 0:
            raise ValueError(f"norm must be > 0, got {self._norm}")
        self._impl = _fovea._ChangeNormJointlyClipRangeSeparately(self._min_max_values, self._norm)

    def process(self, x):
        """x (batch, channels, ...) rescaled and clipped."""
        return self._impl.process(_as_tensor(x, "x"))

    def __repr__(self):
        return f"ChangeNormJointlyClipRangeSeparately(norm={self._norm}, min_max_values={self._min_max_values})"


class TemporalGaussianLowPassFilterProcessor(StimulusPostprocessor):
    """A Gaussian low-pass filter along time (openretina's ``LowPassFilterProcessor``):
    each channel convolved with the normalised exp(−x²/2σ²) of ``kernel_size`` frames,
    "same" padding. Needs movies (batch, channels, time, height, width)."""

    def __init__(self, sigma=1.0, kernel_size=5):
        sigma = _float(sigma, "sigma")
        if sigma <= 0:
            raise ValueError(f"sigma must be > 0, got {sigma}")
        self._impl = _fovea._TemporalGaussianLowPassFilterProcessor(sigma, _int(kernel_size, "kernel_size", 1))

    @property
    def kernel(self):
        """The normalised Gaussian kernel, (kernel_size,)."""
        return self._impl.kernel

    def process(self, x):
        """x low-pass filtered along its time axis."""
        return self._impl.process(_as_tensor(x, "x"))


LowPassFilterProcessor = TemporalGaussianLowPassFilterProcessor


# ---- stopping --------------------------------------------------------------------------------

class OptimizationStopper:
    """Runs ``max_iterations`` steps (no limit for None) and never stops early
    (openretina's ``OptimizationStopper``). Subclasses decide in ``early_stop(loss)``."""

    def __init__(self, max_iterations):
        if max_iterations is not None:
            max_iterations = _int(max_iterations, "max_iterations", 0)
        self._impl = _fovea._OptimizationStopper(max_iterations)

    @property
    def max_iterations(self):
        """The number of steps at most (``sys.maxsize`` for no limit)."""
        return min(self._impl._max_iterations, sys.maxsize)

    def early_stop(self, loss):
        """Called with each step's loss; True ends the optimisation."""
        return self._impl._early_stop(_float(loss, "loss"))


class EarlyStopper(OptimizationStopper):
    """Stops once ``patience`` losses above (best + ``min_delta``) have occurred since the
    last new minimum (openretina's ``EarlyStopper``): a loss below the best resets the
    count; a loss within ``min_delta`` of the best neither counts nor resets it."""

    def __init__(self, max_iterations=None, patience=1, min_delta=0.0):
        if max_iterations is not None:
            max_iterations = _int(max_iterations, "max_iterations", 0)
        self._impl = _fovea._EarlyStopper(max_iterations, _int(patience, "patience", 1),
                                          _float(min_delta, "min_delta"))


# ---- the loop -----------------------------------------------------------------------------------

def optimize_stimulus(stimulus, optimizer_init_fn, objective_object, optimization_stopper,
                      stimulus_regularization_loss=None, stimulus_postprocessor=None):
    """Optimises ``stimulus`` in place to maximise the objective (openretina's
    ``optimize_stimulus``).

    ``stimulus``: a leaf ``torch.Tensor`` with ``requires_grad=True`` (batch 1 for the
    neuron objectives). ``optimizer_init_fn``: builds a torch optimiser from a list of
    tensors, e.g. ``functools.partial(torch.optim.SGD, lr=100.0)``. ``objective_object``:
    an objective (``forward(stimulus)`` -> scalar tensor). ``optimization_stopper``: an
    :class:`OptimizationStopper` or :class:`EarlyStopper`.
    ``stimulus_regularization_loss``: None, a loss or a list of losses added to −objective.
    ``stimulus_postprocessor``: None, a postprocessor or a list, applied in turn to
    ``stimulus.data`` after every step.

    Each iteration: loss = −objective + Σ losses; ``zero_grad``, ``backward``, ``step``;
    postprocess; the stopper sees the loss. The stimulus is detached at the end.
    Returns the objective's value at each iteration (before that iteration's step).
    """
    if not isinstance(stimulus, torch.Tensor):
        raise TypeError(f"stimulus must be a torch.Tensor, not {type(stimulus).__name__}")
    if not (stimulus.is_leaf and stimulus.requires_grad):
        raise ValueError("stimulus must be a leaf tensor with requires_grad=True "
                         "(e.g. torch.randn(shape, requires_grad=True))")
    if not callable(optimizer_init_fn):
        raise TypeError("optimizer_init_fn must be callable (e.g. functools.partial(torch.optim.SGD, lr=100.0))")
    if not callable(getattr(objective_object, "forward", None)):
        raise TypeError(f"objective_object must have a forward(stimulus) method, not {type(objective_object).__name__}")
    if not (hasattr(optimization_stopper, "max_iterations") and callable(getattr(optimization_stopper, "early_stop", None))):
        raise TypeError("optimization_stopper must be an OptimizationStopper, "
                        f"not {type(optimization_stopper).__name__}")

    def as_list(value, what, method):
        if value is None:
            return []
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        for item in items:
            if not callable(getattr(item, method, None)):
                raise TypeError(f"{what} must have a {method}() method, not {type(item).__name__}")
        return items

    losses = as_list(stimulus_regularization_loss, "stimulus_regularization_loss", "forward")
    postprocessors = as_list(stimulus_postprocessor, "stimulus_postprocessor", "process")

    optimizer = optimizer_init_fn([stimulus])
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer_init_fn must return a torch.optim.Optimizer, not {type(optimizer).__name__}")
    history = []
    for _ in range(optimization_stopper.max_iterations):
        objective = objective_object.forward(stimulus)
        if not isinstance(objective, torch.Tensor) or objective.numel() != 1:
            raise ValueError("the objective must return a scalar tensor")
        history.append(float(objective.item()))
        loss = -objective
        for reg in losses:
            loss = loss + reg.forward(stimulus)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        for post in postprocessors:
            stimulus.data = post.process(stimulus.data)
        if optimization_stopper.early_stop(float(loss.item())):
            break
    stimulus.detach_()
    return history
