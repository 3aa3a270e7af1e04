#!/usr/bin/env bash
# The prepared device check of issue 15, for a session that is lent a GPU: one command, about 5 minutes on an H200.
#
#   here:   mkdir -p gpu_data/heterophily gpu_data/air gpu_pack &&
#           cp -r ../shared/data/heterophily/* gpu_data/heterophily/ &&
#           cp -r ../shared/data/air/{prsa_beijing,kdd2018_beijing} gpu_data/air/ &&
#           mkdir -p gpu_data/molecules/generic && cp ../shared/data/molecules/generic/ENZYMES.json \
#               gpu_data/molecules/generic/ &&                                  (for STAGES=graphgen)
#           printf '/gpu_data/\n/gpu_pack/\n' >> .git/info/exclude && tar czf gpu_pack/data.tgz -C gpu_data . &&
#           pip download (the device README's line) rdkit==<version> -d gpu_pack     (data + wheel stay under 64 MiB)
#   device: run(command="pip install --no-index --no-deps --target /tmp/site gpu_pack/*.whl && export
#           PYTHONPATH=/tmp/site; mkdir -p gpu_data && tar xzf gpu_pack/data.tgz -C gpu_data &&
#           bash benchmarks/gpu_session.sh", carry=["gpu_pack"], timeout_s=480)
#
# It runs the CUDA tests (CLI tasks with --device cuda, 70k-node sym Laplacian, no host sync in layers or sampler
# steps), then the GPU rows of RESULTS: ops at 10k and 1M nodes, NSD epochs incl. a 1M-node synthetic graph, and
# molgen sampling end to end (STAGES picks; "scale" adds benchmarks/scale.py's rows, "graphgen" trains GDSS on
# ENZYMES: add molecules/generic/ENZYMES.json to gpu_data). Logs go to $OUT (or
# ./gpu_logs when $OUT is unset, e.g. a CPU dry run with DEVICE=cpu).
set -uo pipefail
cd "$(dirname "$0")/.."
DEVICE="${DEVICE:-cuda}"
LOGS="${OUT:-gpu_logs}"
mkdir -p "$LOGS"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export SHEAFGRAPH_DATA="${SHEAFGRAPH_DATA:-$PWD/gpu_data}"
BIG="${BIG:-1000000}"
STAGES="${STAGES:-tests ops nsd molgen}"                 # add "scale" for issue 19's rows
has() { [[ " $STAGES " == *" $1 "* ]]; }
if has tests; then
    python -m pytest -q -p no:cacheprovider tests/test_cuda.py tests/ops 2>&1 | tee "$LOGS/cuda_tests.log" | tail -5
fi
if has ops; then
    python benchmarks/ops.py --device "$DEVICE" --dims 3 --big "$BIG" --repeats 9 2>&1 | tee "$LOGS/ops.log"
fi
if has nsd; then
    python benchmarks/nsd.py --device "$DEVICE" --datasets chameleon squirrel film --recipe none --repeats 5 \
        --synthetic "$BIG" --synthetic-degree 20 2>&1 | tee "$LOGS/nsd.log"
fi
if has molgen; then
    start=$SECONDS
    python -m sheafgraph.cli molgen sample --num 1000 --device "$DEVICE" --out "$LOGS/mols.smi" 2>&1 |
        tee "$LOGS/molgen.log"
    echo "molgen sample end to end: $((SECONDS - start)) s wall (whole seconds)" | tee -a "$LOGS/molgen.log"
fi
# GDSS's ENZYMES / grid (issue 17): train for a time budget (checkpoint every epoch, resumable: carry a returned
# last.pt back in as gpu_pack/gdss_<set>.pt to go on), then sample on the device; the MMD (orbit counts on the CPU)
# is scored afterwards here: graphgen evaluate --reference train, then test once
if has graphgen; then
    python benchmarks/gdss_step.py --device "$DEVICE" --datasets ${GRAPHGEN_SETS:-ENZYMES} 2>&1 |
        tee "$LOGS/gdss_step.log"
    for ds in ${GRAPHGEN_SETS:-ENZYMES}; do
        mkdir -p "$LOGS/gdss_$ds"
        [ -f "gpu_pack/gdss_$ds.pt" ] && cp "gpu_pack/gdss_$ds.pt" "$LOGS/gdss_$ds/last.pt"
        start=$SECONDS
        timeout --signal INT "${GRAPHGEN_SECONDS:-420}" python -m sheafgraph.cli graphgen train --dataset "$ds" \
            --device "$DEVICE" --checkpoint "$LOGS/gdss_$ds/last.pt" --threads 4 ${GRAPHGEN_TRAIN_ARGS:-} 2>&1 |
            tail -n 30 > "$LOGS/gdss_$ds/train.log"
        echo "graphgen train $ds: $((SECONDS - start)) s wall" | tee -a "$LOGS/gdss_$ds/train.log"
        python -m sheafgraph.cli graphgen sample --dataset "$ds" --checkpoint "$LOGS/gdss_$ds/last.pt" \
            --device "$DEVICE" --out "$LOGS/gdss_$ds/graphs.json" ${GRAPHGEN_SAMPLE_ARGS:-} 2>&1 |
            tee "$LOGS/gdss_$ds/sample.log"
    done
fi
if has scale; then                                       # full batch past what fits on the CPU, then mini-batch at BIG
    python benchmarks/scale.py --device "$DEVICE" --modes full --sizes ${SCALE_SIZES:-1000000 3000000} \
        --full-max 100000000 --repeats 3 2>&1 | tee "$LOGS/scale.log"
    python benchmarks/scale.py --device "$DEVICE" --modes mini --sizes "$BIG" --models diag general \
        --batch-size 100000 --repeats 3 2>&1 | tee -a "$LOGS/scale.log"
fi
