#!/bin/bash
# GPU check of actor training (docs/training.md, "Checked again on an H100"): the cuda-512 preset with the
# adversarial term from step 10 (bfloat16), resumed in float16, the EMA rendered on the GPU and the CPU.
# Here: .venv/bin/python tools/gpu_check_prepare.py; then on the GPU machine, carrying devrun and .whl:
#   bash tools/gpu_check.sh   (about 90 s after the machine starts)
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD
A=/tmp/actor; rm -rf $A; cp -r devrun/actor $A
show() { python3 -c "
import json
for l in open('$A/model/log.jsonl'):
    r=json.loads(l); print(r['step'], ' '.join(f'{k} {r[k]:.3g}' for k in ('rec','g_adv','d','r1','step_seconds') if k in r))
"; }
timeout 100 python3 -m neural_core actor train $A --preset cuda-512 --steps 40 --device cuda --config adv_start=10 --config colour_consistency=1.0 --config sample_every=0 --config log_every=5 --json 2>&1 | grep -v '"progress"' | grep -v warning | tail -2
show
timeout 100 python3 -m neural_core actor train $A --steps 70 --device cuda --config precision=float16 --json 2>&1 | grep -v '"progress"' | grep -v warning | tail -3
show | tail -6
for d in cuda cpu; do timeout 90 python3 -m neural_core render $A/build/shot --model $A/model/ema.safetensors --appearance mean --device $d --out /tmp/r_$d --json 2>&1 | tail -1; done
python3 - <<'PY'
import glob, numpy as np
from PIL import Image
a, b = sorted(glob.glob("/tmp/r_cuda/*.png")), sorted(glob.glob("/tmp/r_cpu/*.png"))
for x, y in zip(a, b):
    p, q = np.asarray(Image.open(x), dtype=np.int16), np.asarray(Image.open(y), dtype=np.int16)
    d = np.abs(p - q)
    i = np.unravel_index(d.argmax(), d.shape)
    print(x[-8:], p.shape, "max", d.max(), "pixels >8 per channel", [(d[..., k] > 8).sum() for k in range(d.shape[-1])], "worst", i, p[i[:2]], q[i[:2]])
PY
