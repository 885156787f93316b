"""Importing this module routes mmengine's reads of local checkpoint files through
:func:`vmlp_mm.utils.checkpoint.load_checkpoint` (narrow weights-only allowlist for mmengine's own
checkpoints, DDP/compile prefixes dropped, clear errors).

Our configs list it in ``custom_imports``, so the upstream tools and APIs that load checkpoints
through mmengine (``confusion_matrix.py``, the inferencers, ``init_model``) read Runner
checkpoints under torch >= 2.6. ``import vmlp_mm`` alone does not do it.
"""
from mmengine.runner.checkpoint import CheckpointLoader

from .utils.checkpoint import load_checkpoint

# prefix '': the scheme of local paths (URLs and open-mmlab:// keep their own loaders)
CheckpointLoader.register_scheme(prefixes='', force=True, loader=lambda path, map_location:
                                 load_checkpoint(path, map_location))
