from .amp import AmpTestLoop, CPUAmpOptimWrapper
from .hooks import FiniteLossHook, ProgressBarHook, StrictCheckpointHook
from .optim_constructor import LayerDecayOptimWrapperConstructor
from .runner import CrashSafeCheckpointHook, CrashSafeRunner

__all__ = ['AmpTestLoop', 'CPUAmpOptimWrapper', 'CrashSafeCheckpointHook', 'CrashSafeRunner',
           'FiniteLossHook', 'LayerDecayOptimWrapperConstructor', 'ProgressBarHook',
           'StrictCheckpointHook']
