"""Convert an official RepMLPNet checkpoint (DingXiaoH/RepMLP) to a vmlp_mm classifier checkpoint.

    python tools/model_converters/repmlp_to_vmlp.py SRC DST

SRC may hold training-time weights (the released ``RepMLPNet-*-train-acc*.pth``) or deploy-time
weights (after the official ``convert.py``); the latter need ``model.backbone.deploy=True``, which
the script prints. Prefer the training-time weights for finetuning: re-parameterise afterwards
with ``tools/model_converters/reparameterize.py``.
"""
from vmlp_mm.converters.cli import main

if __name__ == '__main__':
    main('repmlp')
