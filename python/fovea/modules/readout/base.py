"""openretina's ``openretina.modules.readout.base``: the base class :class:`Readout`."""
from ...models import Readout

__all__ = ["Readout"]
