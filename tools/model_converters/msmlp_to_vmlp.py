"""Convert an official MS-MLP checkpoint (JegZheng/MS-MLP) to a vmlp_mm classifier checkpoint.

    python tools/model_converters/msmlp_to_vmlp.py SRC DST
"""
from vmlp_mm.converters.cli import main

if __name__ == '__main__':
    main('msmlp')
