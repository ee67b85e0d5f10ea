"""openretina's ``openretina.models.core_readout``: :class:`CoreReadout` and the loaders
(the same objects as in :mod:`fovea.models`)."""
from . import CoreReadout, Model, load_core_readout_from_remote, load_core_readout_model

__all__ = ["CoreReadout", "Model", "load_core_readout_from_remote", "load_core_readout_model"]
