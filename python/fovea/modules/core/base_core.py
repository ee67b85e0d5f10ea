"""openretina's ``openretina.modules.core.base_core``: the base class :class:`Core`."""
from ...models import Core

__all__ = ["Core"]
