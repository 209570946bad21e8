#!/bin/bash
# Training recipes side by side on one GPU machine: each variant trains the packed actor
# (tools/gpu_pack_actor.py) the way the reference CPU run was trained (docs/actor.md: the cpu-256
# preset to step 3,222, then lr 0.0002 to 5,451), all at once, each under the same time caps, and
# its EMA comes back as fp16 safetensors with its log. The second phase is a manual resume, as the
# reference's was, so every variant turns the preset's built-in drop off (lr_drop_step=0). Session 23
# ran this, then resumed each run the same way as phase 2 for 3.2 minutes more (docs/training.md). Here:
#   .venv/bin/python tools/gpu_pack_actor.py pack data/actors/synthetic_depth devpack/synthetic_depth
# then on the GPU machine, carrying devpack and .whl (see tools/gpu_check_prepare.py):
#   bash tools/gpu_recipes.sh          (about 9 minutes)
# Settings by environment: STEPS1 STEPS2 MIN1 MIN2 (steps and minutes of the two phases), DEVICE.
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=3
STEPS1=${STEPS1:-3222} STEPS2=${STEPS2:-5451} MIN1=${MIN1:-4.5} MIN2=${MIN2:-3.3} DEVICE=${DEVICE:-cuda}
OUT=${OUT:-/tmp/recipes_out}; mkdir -p "$OUT"
if [ -d .whl ] && [ -z "$NO_WHEELS" ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD
fi
PY=${PY:-python3}
W=/tmp/recipes; rm -rf $W; mkdir -p $W
$PY tools/gpu_pack_actor.py unpack devpack/synthetic_depth $W/base || exit 1
declare -A VARIANTS=(
    [control]="--config lr=0.0005"
    [d_eq]="--config lr=0.0005 --config d_equalized=true"
    [d_eq_adv01]="--config lr=0.0005 --config d_equalized=true --config adv_weight=0.1"
    [cc_start]="--config lr=0.0005 --config colour_consistency=1.0"
    [lr001]="--config lr=0.001"
)
for name in "${!VARIANTS[@]}"; do
    cp -r $W/base $W/$name
    (
        $PY -m neural_core actor train $W/$name --steps $STEPS1 --minutes $MIN1 --device $DEVICE ${VARIANTS[$name]} \
            --config lr_drop_step=0 --config sample_every=0 --json > $W/$name.phase1.log 2>&1
        $PY -m neural_core train --data $W/$name/build --out $W/$name/model --resume --lr 0.0002 --steps $STEPS2 \
            --minutes $MIN2 --device $DEVICE --export "$OUT/$name.safetensors" > $W/$name.phase2.log 2>&1
        tail -n 1 $W/$name/model/log.jsonl > $W/$name.last.json
    ) &
done
wait
cd $W && tar czf "$OUT/logs.tgz" ./*.log ./*.last.json ./*/model/log.jsonl ./*/model/config.json
for name in "${!VARIANTS[@]}"; do echo "$name: $(cut -c1-220 $name.last.json)"; tail -n 2 $W/$name.phase2.log; done
