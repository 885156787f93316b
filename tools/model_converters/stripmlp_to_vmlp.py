"""Convert an official Strip-MLP checkpoint (Med-Process/Strip_MLP) to a vmlp_mm classifier
checkpoint.

    python tools/model_converters/stripmlp_to_vmlp.py SRC DST
"""
from vmlp_mm.converters.cli import main

if __name__ == '__main__':
    main('stripmlp')
