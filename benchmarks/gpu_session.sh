#!/usr/bin/env bash
# Everything the README's GPU numbers come from, in one command on a CUDA machine (repo root as the
# working directory, igan's dependencies importable), in order of priority. Each step is time-boxed
# so that the whole stays inside TOTAL seconds and still returns what it has:
#
#   1. env:        the GPU, driver and package versions;
#   2. tests:      pytest -m cuda (involution's Triton kernels against float64 references, the
#                  twice-differentiable attention, bf16-mixed training steps);
#   3. bench-bf16: benchmarks/train_throughput.py at 64 px in bf16-mixed (its pilots also fill
#                  Inductor's on-disk cache with the involution kernels the study then reuses);
#   4. study:      64 px calligraphy in bf16-mixed: DCGAN, IDCGAN, SAGAN and the ablation `none`,
#                  the same wall-clock budget each (--trainer.max_time), FID/KID on 2,048 samples
#                  after every epoch, then the comparison (igan study runs igan compare);
#   5. bench-fp32: the benchmark again in float32;
#   6. bench-involution: benchmarks/involution.py --device cuda (the op against unfold and Conv2d,
#                  Triton kernels; its float32 table, then bfloat16).
#
# Logs land in $OUT/<step>.log, the study (checkpoints left out) in $OUT/study.tgz.
#
#   OUT=gpu-out bash benchmarks/gpu_session.sh [SECONDS_PER_MODEL=50] [TOTAL_SECONDS=550]
set -u
OUT=${OUT:-gpu-out}
PER_MODEL=${1:-50}
TOTAL=${2:-550}
PY=${PYTHON:-python3}
STUDY=runs/gpu-study64
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 WANDB_MODE=${WANDB_MODE:-offline}
START=$(date +%s)

# step NAME LIMIT CMD...: CMD with at most LIMIT seconds (fewer where TOTAL is nearer; 20 s are kept
# for packing the results), its output in $OUT/NAME.log, the last lines echoed.
step() {
  local name=$1 limit=$2
  shift 2
  local remaining=$((TOTAL - ($(date +%s) - START) - 20))
  ((remaining < limit)) && limit=$remaining
  if ((limit < 10)); then
    echo "== $name: skipped, no time left"
    return
  fi
  echo "== $name (at most $limit s, from $(date +%T))"
  local t0=$(date +%s)
  timeout -k 5 "$limit" "$@" >"$OUT/$name.log" 2>&1
  echo "   exit $? after $(($(date +%s) - t0)) s"
}

max_time=$(printf '00:00:%02d:%02d' $((PER_MODEL / 60)) $((PER_MODEL % 60)))

step env 30 bash -c "nvidia-smi; $PY -c 'import torch, lightning, torchmetrics, torchvision, wandb, jsonargparse;
print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda, torch.cuda.get_device_name());
print(\"lightning\", lightning.__version__, \"torchmetrics\", torchmetrics.__version__, \"torchvision\", torchvision.__version__,
      \"wandb\", wandb.__version__, \"jsonargparse\", jsonargparse.__version__)'"
tail -n 3 "$OUT/env.log"

step tests 150 "$PY" -m pytest -q -m cuda -n 8 -p no:cacheprovider tests/ops tests/test_precision.py
tail -n 15 "$OUT/tests.log"

step bench-bf16 130 "$PY" benchmarks/train_throughput.py --sizes 64 --min-seconds 1 --data-batches 10 \
  --precision bf16-mixed
tail -n 12 "$OUT/bench-bf16.log"

step study $((4 * (PER_MODEL + 30) + 20)) "$PY" -m igan study --out "$STUDY" --epochs 100 \
  --configs configs/calligraphy_dcgan.yaml configs/calligraphy_idcgan.yaml configs/calligraphy_sagan.yaml \
  configs/ablation/calligraphy_none.yaml \
  --data.image_size=64 --trainer.precision=bf16-mixed --trainer.max_time="$max_time" \
  --metrics.num_samples=2048 --trainer.enable_progress_bar=false
tail -n 25 "$OUT/study.log"

step bench-fp32 130 "$PY" benchmarks/train_throughput.py --sizes 64 --min-seconds 1 --data-batches 10
tail -n 12 "$OUT/bench-fp32.log"

step bench-involution 90 bash -c "$PY benchmarks/involution.py --device cuda && $PY benchmarks/involution.py --device cuda --dtype bfloat16 --no-eager"
tail -n 12 "$OUT/bench-involution.log"

tar czf "$OUT/study.tgz" --exclude='*ckpt*' --exclude='wandb' "$STUDY" || echo "packing the study failed"
ls -la "$OUT"
echo "total $(($(date +%s) - START)) s"
