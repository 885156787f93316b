"""Convert an official PosMLP checkpoint (Zhicaiwww/PosMLP) to a vmlp_mm classifier checkpoint.

    python tools/model_converters/posmlp_to_vmlp.py SRC DST

The timm trainer saves ``state_dict`` and ``state_dict_ema``; the ``state_dict`` weights are
converted (the official evaluation uses ``state_dict_ema``: save it as its own file first to
convert the EMA weights).
"""
from vmlp_mm.converters.cli import main

if __name__ == '__main__':
    main('posmlp')
