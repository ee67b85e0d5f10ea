"""Cores: :class:`fovea.models.Core` (the base class) under openretina's path."""
from ...models import Core, ModelCore

__all__ = ["Core", "ModelCore"]
