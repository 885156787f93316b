from .hooks import StrictCheckpointHook
from .optim_constructor import LayerDecayOptimWrapperConstructor

__all__ = ['LayerDecayOptimWrapperConstructor', 'StrictCheckpointHook']
