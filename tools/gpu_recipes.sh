#!/bin/bash
# Training recipes side by side on one GPU machine: each variant trains the packed actor
# (tools/gpu_pack_actor.py) from the cpu-256 preset (its built-in learning-rate drop included),
# all at once under the same time cap, and its EMA comes back as fp16 safetensors with its log.
# A GPU step is a CPU step (same batch, same schedule), so a variant's figures at step N stand for
# the CPU run's at step N. Here:
#   .venv/bin/python tools/gpu_pack_actor.py pack data/actors/synthetic_depth devpack/synthetic_depth
# then on the GPU machine, carrying devpack and .whl (see tools/gpu_check_prepare.py):
#   bash tools/gpu_recipes.sh 'preset=' 'lr002=--lr 0.002' 'drop2100=--lr-drop-step 2100'
# Each argument is NAME=OPTIONS (options of `python -m neural_core train`, added to the preset's).
# PHASE=2 with the same arguments, on the same warm machine, resumes every run for MINUTES more.
# Settings by environment: STEPS (the schedule's length), MINUTES (the cap of this call), DEVICE, OUT.
# Session 23's five variants (a manual second phase then) and session 24's: docs/training.md.
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=3
STEPS=${STEPS:-5451} MINUTES=${MINUTES:-7.5} DEVICE=${DEVICE:-cuda} PHASE=${PHASE:-1}
OUT=${OUT:-/tmp/recipes_out}; mkdir -p "$OUT"
[ $# -gt 0 ] || { echo "usage: gpu_recipes.sh NAME=OPTIONS ..." >&2; exit 2; }
if [ -d .whl ] && [ -z "$NO_WHEELS" ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD
fi
PY=${PY:-python3}
W=/tmp/recipes
if [ "$PHASE" = 1 ]; then
    rm -rf $W; mkdir -p $W
    $PY tools/gpu_pack_actor.py unpack devpack/synthetic_depth $W/base || exit 1
fi
NAMES=()
for spec in "$@"; do
    name=${spec%%=*} options=${spec#*=}
    NAMES+=("$name")
    if [ "$PHASE" = 1 ]; then start="--preset cpu-256 --sample-every 0 $options"; else start=--resume; fi
    (
        # shellcheck disable=SC2086  # the options are words
        $PY -m neural_core train --data $W/base/build --out $W/$name $start --steps "$STEPS" --minutes "$MINUTES" \
            --device "$DEVICE" --export "$OUT/$name.phase$PHASE.safetensors" > $W/$name.phase$PHASE.log 2>&1
        tail -n 1 $W/$name/log.jsonl > $W/$name.last.json
    ) &
done
wait
cd $W && tar czf "$OUT/logs.phase$PHASE.tgz" ./*.log ./*.last.json ./*/log.jsonl ./*/config.json
for name in "${NAMES[@]}"; do echo "$name: $(cut -c1-200 "$name.last.json")"; tail -n 2 "$name.phase$PHASE.log"; done
