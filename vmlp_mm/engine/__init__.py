from .amp import CPUAmpOptimWrapper
from .hooks import StrictCheckpointHook
from .optim_constructor import LayerDecayOptimWrapperConstructor

__all__ = ['CPUAmpOptimWrapper', 'LayerDecayOptimWrapperConstructor', 'StrictCheckpointHook']
