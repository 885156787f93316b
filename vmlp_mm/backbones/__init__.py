from .activemlp import ActiveMLP
from .base import VisionMLPBackbone, VisionMLPStage
from .msmlp import MSMLP
from .repmlpnet import RepMLPNet

__all__ = ['VisionMLPBackbone', 'VisionMLPStage', 'ActiveMLP', 'MSMLP', 'RepMLPNet']
