from .activemlp import ActiveMLP
from .base import VisionMLPBackbone, VisionMLPStage
from .msmlp import MSMLP
from .posmlp import PosMLP
from .repmlp import RepMLPNet
from .stripmlp import StripMLP

__all__ = ['VisionMLPBackbone', 'VisionMLPStage', 'ActiveMLP', 'MSMLP', 'PosMLP', 'RepMLPNet',
           'StripMLP']
