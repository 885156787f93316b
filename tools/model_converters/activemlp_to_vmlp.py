"""Convert an official ActiveMLP checkpoint (microsoft/ActiveMLP) to a vmlp_mm classifier
checkpoint.

    python tools/model_converters/activemlp_to_vmlp.py SRC DST

The official training checkpoints hold both ``model`` and ``model_ema``; the ``model`` weights
are converted (extract ``model_ema`` into its own file first to convert the EMA weights).
"""
from vmlp_mm.converters.cli import main

if __name__ == '__main__':
    main('activemlp')
