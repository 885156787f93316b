#!/usr/bin/env bash
# torchrun for tools/dist_train.sh and tools/dist_test.sh: dist_launch.sh SCRIPT GPUS [SCRIPT args]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR and PORT as for torchrun; PYTHON picks the interpreter.
SCRIPT=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}

# torchrun reports a busy port as a C++ socket error deep in its traceback; say it plainly
if [ "$NODE_RANK" = 0 ] && ! "$PYTHON" -c "import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('', int(sys.argv[1])))" "$PORT" 2>/dev/null; then
    echo "error: port $PORT is in use, probably by another training job; set PORT to a free" \
         "one, e.g. PORT=$((PORT + 1)) tools/dist_train.sh ..." >&2
    exit 1
fi

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
"$PYTHON" -m torch.distributed.run \
    --nnodes=$NNODES \
    --node_rank=$NODE_RANK \
    --master_addr=$MASTER_ADDR \
    --nproc_per_node=$GPUS \
    --master_port=$PORT \
    "$SCRIPT" \
    --launcher pytorch "${@:3}"
