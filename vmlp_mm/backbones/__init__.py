from .activemlp import ActiveMLP
from .base import VisionMLPBackbone, VisionMLPStage
from .msmlp import MSMLP

__all__ = ['VisionMLPBackbone', 'VisionMLPStage', 'ActiveMLP', 'MSMLP']
