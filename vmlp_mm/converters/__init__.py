"""Official checkpoint -> vmlp_mm converters (one module per model, thin scripts in tools/)."""
from . import activemlp, msmlp, posmlp, repmlp, stripmlp
from .base import (CheckpointMismatchError, check_state_dict, load_official_state_dict,
                   rename_keys)

CONVERTERS = {'activemlp': activemlp, 'msmlp': msmlp, 'posmlp': posmlp, 'repmlp': repmlp,
              'stripmlp': stripmlp}

__all__ = ['CONVERTERS', 'CheckpointMismatchError', 'check_state_dict',
           'load_official_state_dict', 'rename_keys']
