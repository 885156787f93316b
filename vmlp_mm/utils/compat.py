"""Keeping the OpenMMLab stack importable next to packages it predates.

Imported by ``vmlp_mm/__init__.py`` before anything imports mmpretrain, and by
tools/check_install.py; it imports nothing of vmlp_mm or OpenMMLab itself.
"""
import importlib.metadata
import sys
import types

MULTIMODAL = 'mmpretrain.models.multimodal'


def keep_mmpretrain_importable() -> bool:
    """Stand an empty package in for mmpretrain's multimodal models when transformers >= 5 is
    installed; returns whether it did.

    mmpretrain 1.2.0 imports its multimodal models (BLIP, BLIP-2, Flamingo, ...) whenever
    transformers >= 4.28 is installed, and under transformers 5 their import fails
    (``TypeError: NoneType takes no arguments`` in BLIP's language model), which takes down
    ``import mmpretrain`` and with it every vmlp_mm tool. vmlp_mm uses none of those models;
    mmpretrain's own fallback (placeholders that raise on use) needs a transformers it does not
    see, so the stand-in is set before mmpretrain is first imported.
    """
    if MULTIMODAL in sys.modules or 'mmpretrain.models' in sys.modules:
        return False
    try:
        version = importlib.metadata.version('transformers')
    except importlib.metadata.PackageNotFoundError:
        return False
    if int(version.split('.')[0]) < 5:
        return False
    stand_in = types.ModuleType(MULTIMODAL, doc=f'mmpretrain 1.2.0\'s multimodal models do not '
                                f'import under transformers {version}; vmlp_mm left them out.')
    stand_in.__all__ = []
    sys.modules[MULTIMODAL] = stand_in
    return True
