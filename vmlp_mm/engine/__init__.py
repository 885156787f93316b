from .amp import AmpTestLoop, CPUAmpOptimWrapper
from .hooks import StrictCheckpointHook
from .optim_constructor import LayerDecayOptimWrapperConstructor

__all__ = ['AmpTestLoop', 'CPUAmpOptimWrapper', 'LayerDecayOptimWrapperConstructor', 'StrictCheckpointHook']
