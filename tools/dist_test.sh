#!/usr/bin/env bash
# Distributed evaluation with torchrun: tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR and PORT as for torchrun; PYTHON picks the interpreter.
exec bash "$(dirname "$0")/dist_launch.sh" "$(dirname "$0")/test.py" "$3" "$1" "$2" "${@:4}"
