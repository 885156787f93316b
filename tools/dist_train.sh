#!/usr/bin/env bash
# Distributed training with torchrun: tools/dist_train.sh CONFIG GPUS [train.py args]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR and PORT as for torchrun; PYTHON picks the interpreter.
exec bash "$(dirname "$0")/dist_launch.sh" "$(dirname "$0")/train.py" "$2" "$1" "${@:3}"
