"""fovea: predictive models of visual neurons, from Python.

The C++ toolkit fovea (retina and V1 models as in openretina and minimodel)
as a Python package. Models take and return ``torch.Tensor`` with autograd
intact, so a fovea model can sit inside your own PyTorch code; NumPy arrays
are accepted as inputs too.

    >>> import torch, fovea
    >>> model = fovea.load_model("hoefling_2024_base_low_res")
    >>> x = torch.randn(model.stimulus_shape(time_steps=50), requires_grad=True)
    >>> y = model(x, data_key=model.readout_keys()[0])
    >>> y[0, -1, 3].backward()          # x.grad: the neuron's gradient

Errors raised by the library are :class:`fovea.Error` (a ``RuntimeError``)
with the same one-line message as the command line prints.
"""
# torch first: its libraries (the same LibTorch that fovea links) and its type
# casters must be loaded before the extension.
import torch  # noqa: F401

from . import _fovea
from ._fovea import Error
from .models import (Core, CoreReadout, Model, ModelCore, ModelReadout, Readout, ReadoutSession, kernel_set,
                     load_core_readout_from_remote, load_core_readout_model, load_model, set_kernel_set)
from . import insilico, utils
from .workflows import (evaluate, fit_minimodels, predict, simulate_retina, simulate_v1, top_images, train,
                        visualize)

Error.__module__ = "fovea"
Error.__doc__ = ("An error reported by fovea's library: bad input named by file, field and what was "
                 "expected. A subclass of RuntimeError; str(e) is the one-line message.")

__version__ = "0.1.0"

__all__ = ["Error", "Model", "Core", "Readout", "CoreReadout", "ModelCore", "ModelReadout", "ReadoutSession",
           "load_model", "load_core_readout_from_remote", "load_core_readout_model", "kernel_set", "set_kernel_set",
           "insilico", "utils",
           "train", "evaluate", "predict", "visualize", "simulate_v1", "simulate_retina", "fit_minimodels", "top_images"]
