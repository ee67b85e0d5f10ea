"""openretina's ``openretina.modules`` paths for the base classes of cores and readouts
(``fovea.modules.core.base_core.Core``, ``fovea.modules.readout.base.Readout``); the
classes are those of :mod:`fovea.models`."""
