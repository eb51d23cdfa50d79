#!/bin/bash
# The runs of one lent-GPU session, in priority order (each appends one JSON line to
# $OUT/results.jsonl as soon as it ends, so a cut-off call still returns what finished).
#
#   [RUNS="name ..."] bash experiments/device_runs.sh SCENES_DIR [STEPS] [LONG_STEPS]
#
# SCENES_DIR holds pebbles/ (a copy of ../shared/scenes: the device machine sees only the repo).
# Missing Python packages travel as wheels in .whl/ (device README); on a machine that has them,
# nothing is installed.
set -u
SC=${1:?scenes dir}
STEPS=${2:-3000}
LONG=${3:-12000}
OUT=${OUT:-/tmp/device_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 JAX_COMPILATION_CACHE_DIR=/tmp/jax_cache
if [ -z "${NO_WHEELS:-}" ] && ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD || exit 1
fi
LOG=$OUT/log.txt
RES=$OUT/results.jsonl
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c "import jax, flax, optax; print('jax', jax.__version__, jax.devices(), 'flax', flax.__version__, 'optax', optax.__version__)"
} 2>&1 | tee -a "$LOG"

run() {  # name, then benchmark.py arguments
  local name=$1; shift
  local t0=$SECONDS
  python3 experiments/benchmark.py --config="${CFG:-configs/llff.py}" --config.data.path="$SC/${SCENE:-pebbles}" \
    --workdir=/tmp/runs/"$name" "$@" ${EXTRA:-} >"/tmp/$name.log" 2>&1
  local rc=$?
  grep -E '^\{' "/tmp/$name.log" | tail -1 | python3 -c "
import json, sys
line = sys.stdin.read().strip()
print(json.dumps({'run': '$name', 'rc': $rc, 'wall_s': $SECONDS - $t0, 'args': sys.argv[1:],
                  'result': json.loads(line) if line else None}))" "$@" >>"$RES"
  tail -5 "/tmp/$name.log" >>"$LOG"
  for wd in /tmp/runs/"$name"/*/; do  # scored independently of the project's own metrics
    [ -d "$wd/eval" ] || continue
    python3 "$SC/tools/score.py" "$SC/${SCENE:-pebbles}" "$wd" 2>>"$LOG" | python3 -c "
import json, sys
print(json.dumps({'run': '$name', 'mode': '$(basename "$wd")', **json.loads(sys.stdin.read())}))" >>"$OUT/scores.jsonl"
  done
  echo "== $name rc=$rc $((SECONDS - t0)) s" | tee -a "$LOG"
}

TRUE_LENS="--config.defocus.lens_init=lens.json --config.defocus.learn_lens=False --config.defocus.residual=False"
DECONV="--config.defocus.patch_every=1 --config.defocus.patch_field_grad=True"
MIX="--config.defocus.patch_every=2 --config.defocus.patch_field_grad=True"

# Each named run; RUNS="a b" picks some (default: all, in this order).
want() { [ -z "${RUNS:-}" ] || [[ " $RUNS " == *" $1 "* ]]; }
# 1. Deconvolution alone with the true lens: can patch steps that train the field deblur at all?
want deconv_true_lens && run deconv_true_lens --modes=defocus --config.train.max_steps=$STEPS $DECONV $TRUE_LENS
# 2. The three modes at the default config: GPU throughput and PSNRs side by side.
want bench && run bench --modes=naive,defocus,oracle --config.train.max_steps=$STEPS
# 3. Smaller patches (8 per step instead of 2): less correlated batches.
want deconv_true_lens_p16 && run deconv_true_lens_p16 --modes=defocus --config.train.max_steps=$STEPS $DECONV $TRUE_LENS \
  --config.defocus.patch_size=16
# 4. Focus-weighted rays plus deconvolving patch steps, true lens.
want mix_true_lens && run mix_true_lens --modes=defocus --config.train.max_steps=$STEPS $MIX $TRUE_LENS
# 5. A longer budget for all: does the gap close with more steps?
want long_bench && run long_bench --modes=naive,defocus --config.train.max_steps=$LONG
want long_deconv_true_lens && run long_deconv_true_lens --modes=defocus --config.train.max_steps=$LONG $DECONV $TRUE_LENS
# 6. Garden (captures around an object) at the same budget.
want garden_bench && SCENE=garden CFG=configs/object.py run garden_bench --modes=naive,defocus,oracle --config.train.max_steps=$STEPS
# 7. Focus rays plus deconvolving patch steps with the learned lens (the best true-lens mix, run 4).
want mix && run mix --modes=defocus --config.train.max_steps=$STEPS $MIX
want garden_mix && SCENE=garden CFG=configs/object.py run garden_mix --modes=defocus \
  --config.train.max_steps=$STEPS $MIX
want garden_defocus && SCENE=garden CFG=configs/object.py run garden_defocus --modes=defocus \
  --config.train.max_steps=$STEPS
