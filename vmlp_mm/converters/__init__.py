"""Official checkpoint -> vmlp_mm converters: one module per model family
(:data:`vmlp_mm.families.FAMILIES` names it), the shared machinery in :mod:`.base`, the command
line of ``tools/model_converters/<name>_to_vmlp.py`` in :mod:`.cli`."""
from .base import CheckpointMismatchError, check_state_dict, load_official_state_dict, rename_keys

__all__ = ['CheckpointMismatchError', 'check_state_dict', 'load_official_state_dict',
           'rename_keys']
