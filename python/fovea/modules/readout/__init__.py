"""Readouts: :class:`fovea.models.Readout` (the base class) under openretina's path."""
from ...models import ModelReadout, Readout

__all__ = ["Readout", "ModelReadout"]
