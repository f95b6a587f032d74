#!/usr/bin/env bash
# GPU check on a machine with an NVIDIA GPU and no registry access (run from the repo root), in
# two parts that fit one device call each — PART=kernels, PART=steps, or PART=all (default: both).
# Writes $OUT/gpu.csv (else dev/gpu/out/gpu.csv; columns model,check,batch,ok,value,detail), the
# logs beside it, and prints a summary. Every step runs under a time limit, and the whole under
# BUDGET_S seconds (default 530): a step that would start past the budget is recorded as skipped.
#
# Both parts: 1. nvidia-smi;  2. deno;  3. build:cuda and build:native (the cpu oracle); PART=kernels
#    also the kernel lab's library (dev/cuda/lab.ts).
# PART=kernels:
#   4. the cuda tests: own GEMM (GEMM tests only), then everything with cuBLAS, incl. the tf32 and
#      bf16 GEMM-math tests — they must run (not be ignored) and pass; the operator test suite with
#      TRM_TEST_BACKEND=cuda (each operator's output and gradients on cuda against ref); then the
#      kernel lab's variants (dev/cuda/lab_test.ts: ssd-chunked, ssd-chunked-tc, attention-tc,
#      each in a process of its own, each as the backend's kernel against the oracle and the
#      mainline kernel);
#   4b. dev/gpu/ssd_bench.ts: SSD forward+backward at the paper shape (16 heads × headDim 64,
#      dState 128, chunk 256, seq 916, batch $SSD_BATCH, default 32) for the seq, chunked and
#      chunked-tc kernels (the last two: lab variants) vs the memory-bound floor (bytes / 4.8 TB/s),
#      and agreement with seq;
#   4c. dev/gpu/attn_bench.ts: attention forward and forward+backward, simt vs tensor cores (lab), at
#      L = 916 (batch $ATTN_BATCH, default 64) and L = 97, against the tf32 peak;
#   4d. dev/gpu/launch_bench.ts: µs per backend call (launch + FFI), calls per ARC training step at
#      B=1 and the step's time — the most CUDA graphs could take off a step;
# PART=steps:
#   5. train_check.ts loss: trm-attn and tr-mamba2attn at ARC shapes, B=4, two steps, loss on cuda
#      (f32, tf32, bf16 GEMMs; and f32 with 2 micro-batches + recomputation) vs cpu;
#   6. benchmarks/speed/memory_plan.ts --backend cuda: each model's footprint from small batches
#      and the plans (micro-batches, recomputation) that fit B = $STEP_BATCH (default 768) and
#      $TIME_BATCH;
#   7. per model: one paper-batch step (B = $STEP_BATCH with that plan, $STEP_MATH GEMMs, default
#      bf16 as the reference trains; a plan that still runs out of memory is retried with twice the
#      micro-batches) — its losses must be finite, its time is recorded; then the timed
#      comparison at B = $TIME_BATCH (default 192, the per-GPU batch of TRM's 4-GPU ARC run; its own
#      plan): our step with bf16 GEMMs (TIME_F32=1: also f32), and the PyTorch peer
#      (benchmarks/peers/torch_step.py, bf16 with torch.compile, then eager bf16 (and f32), the same
#      micro-batches and recomputation) with $TORCH_PY (default /opt/torch/.venv/bin/python);
#   8. the smoke pipeline with --backend cuda (training, evaluation and scoring on the GPU end to
#      end; its verify line against the cpu baselines is reported, not judged);
#   9. dev/gpu/summary.ts: the peer's rows and the ratios ours / PyTorch, the summary.
#
# Exit status: 0 all checks passed; 1 a check failed (or a prerequisite is missing); 2 all run
# checks passed but something was skipped or timed out (out of time, PyTorch missing).
# The ≤ 0.75 × PyTorch goal is reported in the `goal` rows, not checked (REQUIRE_GOAL=1: checked).
#
# Deno: the machine has none. Bring the npm package's binary (95 MB; /usr/bin/deno resolves to
# /usr/lib/node_modules/deno/deno here), compressed to fit the 64 MiB working-tree limit:
#   mkdir -p dev/gpu/bin && gzip -9 -c "$(readlink -f "$(command -v deno)")" > dev/gpu/bin/deno.gz
#   echo /dev/gpu/bin/ >> .git/info/exclude     # then carry: ["dev/gpu/bin", "node_modules"]
# node_modules/ (from `deno install --frozen`) must travel too: the npm imports resolve from it.
# Or set DENO to a deno binary already there.
set -uo pipefail
shopt -s nullglob
cd "$(dirname "$0")/../.."
export NO_COLOR=1
OUTDIR="${OUT:-dev/gpu/out}"
mkdir -p "$OUTDIR"
CSV="$OUTDIR/gpu.csv"
rm -f "$CSV" "$OUTDIR"/torch-*.jsonl
BUDGET_S="${BUDGET_S:-530}"
RESERVE_S=20 # kept for the summary
PART="${PART:-all}"
case "$PART" in all | kernels | steps) ;; *) echo "PART must be all, kernels or steps: $PART"; exit 1 ;; esac
want() { [ "$PART" = all ] || [ "$PART" = "$1" ]; }
STEP_BATCH="${STEP_BATCH:-768}"
STEP_MATH="${STEP_MATH:-bf16}"
TIME_BATCH="${TIME_BATCH:-192}"
TIME_F32="${TIME_F32:-0}"
MODELS="${MODELS:-trm-attn tr-mamba2attn}"
TORCH_PY="${TORCH_PY:-/opt/torch/.venv/bin/python}"
T0=$SECONDS

step() { echo "== [$((SECONDS - T0)) s] $*"; }
# row MODEL CHECK BATCH OK VALUE DETAIL: appends a row to gpu.csv
# Provenance of every row: the commit of this copy (git, else $GIT_COMMIT, else "unknown"), the GPU
# (set once nvidia-smi has answered) and the time.
COMMIT=$(git rev-parse --short=12 HEAD 2>/dev/null || echo "${GIT_COMMIT:-unknown}")
GPU_DEVICE=""
row() {
  [ -s "$CSV" ] || echo "model,check,batch,ok,value,detail,commit,device,date" > "$CSV"
  local v=${5//\"/\"\"} d=${6//\"/\"\"} g=${GPU_DEVICE//\"/\"\"}
  printf '%s,%s,%s,%s,"%s","%s",%s,"%s",%s\n' "$1" "$2" "$3" "$4" "$v" "$d" "$COMMIT" "$g" \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >> "$CSV"
  echo "   row: $1 $2 B=$3 ok=$4 $5 ${6:0:200}"
}
fatal() { row "" "$1" "" false "" "$2"; echo "CHECK FAILED: $1: $2"; exit 1; }
# limited SECONDS CMD...: runs CMD under timeout min(SECONDS, time left); 124 = timed out,
# 200 = not started (under 15 s left)
limited() {
  local lim=$1 left=$((BUDGET_S - RESERVE_S - (SECONDS - T0)))
  shift
  [ "$left" -lt "$lim" ] && lim=$left
  [ "$lim" -lt 15 ] && return 200
  timeout -k 10 "$lim" "$@"
}
# outcome RC MODEL CHECK BATCH ESSENTIAL: a row for a step that timed out or was not started
# (essential steps: a failure; others: incomplete); returns 0 if RC says the step ran to the end
outcome() {
  case "$1" in
    124 | 137) row "$2" "$3" "$4" "$([ "$5" = 1 ] && echo false || echo true)" timeout "time limit" ;;
    200) row "$2" "$3" "$4" "$([ "$5" = 1 ] && echo false || echo true)" skipped "out of time" ;;
    *) return 0 ;;
  esac
  return 1
}

step "nvidia-smi"
gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader) ||
  fatal nvidia-smi "nvidia-smi failed"
echo "$gpu"
GPU_DEVICE=$(echo "$gpu" | head -1)
export GPU_DEVICE
row "" gpu "" true "$(echo "$gpu" | head -1 | cut -d, -f1)" "$gpu"

step "deno"
DENO="${DENO:-}"
if [ -z "$DENO" ] && command -v deno >/dev/null 2>&1; then DENO=$(command -v deno); fi
if [ -z "$DENO" ] && [ -x dev/gpu/bin/deno ]; then DENO=dev/gpu/bin/deno; fi
if [ -z "$DENO" ] && [ -f dev/gpu/bin/deno.gz ]; then
  gunzip -c dev/gpu/bin/deno.gz > /tmp/deno && chmod +x /tmp/deno && DENO=/tmp/deno
fi
[ -n "$DENO" ] || fatal deno "no deno (see the header of this script)"
"$DENO" --version | head -1 || fatal deno "deno does not run"
[ -d node_modules ] || fatal deno "node_modules/ missing (carry it; see the header)"

step "cuBLAS"
if [ -z "${TRM_CUBLAS:-}" ]; then
  for d in /opt/torch/.venv/lib/python3*/site-packages/nvidia/cublas/lib \
           /opt/torch/.venv/lib/python3*/site-packages/nvidia/cu13/lib /usr/local/cuda/lib64; do
    for n in libcublas.so.13 libcublas.so.12; do
      if [ -z "${TRM_CUBLAS:-}" ] && [ -f "$d/$n" ]; then export TRM_CUBLAS="$d/$n"; fi
    done
  done
fi
echo "TRM_CUBLAS=${TRM_CUBLAS:-<search at run time; own GEMM if none>}"

step "deno task build:cuda, build:native"
limited 240 "$DENO" run --allow-all engine/backends/cuda/build.ts 2>&1 | tee "$OUTDIR/build.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || fatal build:cuda "see build.log"
limited 120 "$DENO" run --allow-all engine/native/build.ts 2>&1 | tee -a "$OUTDIR/build.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || fatal build:native "the cpu oracle; see build.log"
if want kernels; then
  limited 240 "$DENO" run --allow-all dev/cuda/lab.ts 2>&1 | tee -a "$OUTDIR/build.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || fatal build:lab "the kernel lab (dev/cuda); see build.log"
fi

# tests LOG CHECK DETAIL ENV... -- ARGS...: runs the deno tests ARGS with ENV under 240 s (or LIMIT);
# the row says whether they ran (none ignored, at least one passed) and passed
tests() {
  local log=$1 check=$2 detail=$3 envs=() rc summary
  shift 3
  while [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  limited "${LIMIT:-240}" env "${envs[@]}" "$DENO" test --allow-all "$@" > "$log" 2>&1
  rc=$?
  tail -3 "$log"
  outcome $rc "" "$check" "" 1 || return 0
  summary=$(grep -E "passed|failed" "$log" | tail -1 | sed 's/^[^|]*| //')
  if [ $rc -ne 0 ]; then
    row "" "$check" "" false "$summary" "$(grep -E "FAILED|error:" "$log" | head -5 | tr '\n' ' ')"
  elif grep -q "SKIPPED\|IGNORED" "$log" || grep -Eq "[1-9][0-9]* ignored" "$log" ||
    ! grep -Eq "[1-9][0-9]* passed" "$log"; then
    row "" "$check" "" false "$summary" "tests skipped, ignored or none ran: $(grep -E "SKIPPED|IGNORED" "$log" | head -3 | tr '\n' ' ')"
  else
    row "" "$check" "" true "$summary" "$detail"
  fi
}

if want kernels; then
  step "cuda tests: own GEMM (GEMM tests), then all with cuBLAS (incl. tf32/bf16 GEMM math)"
  tests "$OUTDIR/cuda_tests_own.log" cuda-tests-own "TRM_CUDA_GEMM=own" TRM_CUDA_GEMM=own -- \
    --filter "/^cuda vs [^:]+: gemm /" engine/backends/cuda/cuda_test.ts
  tests "$OUTDIR/cuda_tests_auto.log" cuda-tests-auto "TRM_CUDA_GEMM=auto" TRM_CUDA_GEMM=auto -- \
    engine/backends/cuda/cuda_test.ts

  step "the operator test suite on cuda (operators/*_test.ts against ref; PyTorch op-check left out)"
  LIMIT=180 tests "$OUTDIR/operator_tests_cuda.log" operator-tests-cuda "TRM_TEST_BACKEND=cuda" \
    TRM_TEST_BACKEND=cuda -- operators/attention_test.ts operators/mamba2_test.ts \
    operators/mlp_t_test.ts operators/swiglu_test.ts

  # each variant in a process of its own: a device fault leaves a sticky CUDA error
  step "kernel lab: SSD variants (dev/cuda/lab_test.ts); fwd+bwd timing vs seq and the floor"
  for v in ssd-chunked ssd-chunked-tc; do
    LIMIT=150 tests "$OUTDIR/lab_tests_$v.log" "lab-tests-$v" "dev/cuda/lab_test.ts [$v]" -- \
      --filter "[$v]" dev/cuda/lab_test.ts
  done
  limited 180 "$DENO" run --allow-all dev/gpu/ssd_bench.ts --batch "${SSD_BATCH:-32}" --out "$CSV" \
    2>&1 | tee "$OUTDIR/ssd_bench.log"
  outcome "${PIPESTATUS[0]}" ssd ssd-bench "${SSD_BATCH:-32}" 0

  step "kernel lab: attention-tc (dev/cuda/lab_test.ts); simt vs tensor cores timing"
  LIMIT=150 tests "$OUTDIR/lab_tests_attention-tc.log" lab-tests-attention-tc \
    "dev/cuda/lab_test.ts [attention-tc]" -- --filter "[attention-tc]" dev/cuda/lab_test.ts
  limited 150 "$DENO" run --allow-all dev/gpu/attn_bench.ts --batch "${ATTN_BATCH:-64}" --out "$CSV" \
    2>&1 | tee "$OUTDIR/attn_bench.log"
  outcome "${PIPESTATUS[0]}" attn attn-bench "${ATTN_BATCH:-64}" 0

  step "launch latency and backend calls per step (the most CUDA graphs could save)"
  limited 90 "$DENO" run --allow-all dev/gpu/launch_bench.ts --backend cuda --out "$CSV" \
    2>&1 | tee "$OUTDIR/launch_bench.log"
  outcome "${PIPESTATUS[0]}" "" launch-bench 1 0
fi

if want steps; then
  step "training check: loss on cuda (f32, tf32, bf16 GEMMs; micro-batches + recompute) vs cpu at B=4"
  limited 240 "$DENO" run --allow-all dev/gpu/train_check.ts loss --out "$CSV" \
    --models "${MODELS// /,}" 2>&1 | tee "$OUTDIR/loss.log"
  rc=${PIPESTATUS[0]}
  outcome $rc "" train-check-loss "" 1 && [ $rc -ne 0 ] &&
    row "" train-check-loss "" false "exit $rc" "$(grep -E "^error|FAIL" "$OUTDIR/loss.log" | head -3 | tr '\n' ' ')"

  # memory plans for the paper batch and the timed batch: "plan MODEL B M RECOMPUTE ..." lines
  step "memory plan on cuda for B=$STEP_BATCH and B=$TIME_BATCH"
  limited 200 "$DENO" run --allow-all benchmarks/speed/memory_plan.ts --backend cuda --task arc \
    --models "${MODELS// /,}" --probe 2 --check-batch 8 --batch "$STEP_BATCH,$TIME_BATCH" \
    --out "$OUTDIR/memory_plan.csv" 2>&1 | tee "$OUTDIR/memory_plan.log"
  rc=${PIPESTATUS[0]}
  outcome $rc "" memory-plan "" 1 && [ $rc -ne 0 ] &&
    row "" memory-plan "" false "exit $rc" "$(grep -E "^error" "$OUTDIR/memory_plan.log" | head -2 | tr '\n' ' ')"
  grep "^plan " "$OUTDIR/memory_plan.log" | while read -r _ m b micro rec rest; do
    row "$m" memory-plan "$b" "$([ "$micro" = none ] && echo false || echo true)" \
      "$micro $rec" "micro-batches, recompute; $rest"
  done
  # plan_args MODEL B: "--micro-batches M [--recompute]" from the plan ("" if none)
  plan_args() {
    awk -v m="$1" -v b="$2" '$1 == "plan" && $2 == m && $3 == b && $4 != "none" {
      print "--micro-batches " $4 ($5 == "true" ? " --recompute" : "") }' \
      "$OUTDIR/memory_plan.log" 2>/dev/null | tail -1
  }

  # ours MODEL B MATH CHECK REPS BUDGET: our step with the plan for B; an out-of-memory doubles the
  # micro-batches (up to B); returns 0 and sets RAN_PLAN when a step ran
  ours() {
    local model=$1 b=$2 math=$3 check=$4 reps=$5 budget=$6 args m rc
    args=$(plan_args "$model" "$b")
    [ -n "$args" ] || { row "$model" "$check" "$b" false "" "no memory plan for B=$b"; return 1; }
    while :; do
      limited $((budget + 60)) "$DENO" run --allow-all dev/gpu/train_check.ts time --model "$model" \
        --batch "$b" --math "$math" --reps "$reps" --budget "$budget" $args --check "$check" \
        --out "$CSV" \
        2>&1 | tee -a "$OUTDIR/time.log"
      rc=${PIPESTATUS[0]}
      outcome $rc "$model" "$check" "$b" 0 || return 1
      [ $rc -eq 0 ] && { RAN_PLAN=$args; return 0; }
      [ $rc -eq 3 ] || return 1
      m=$(echo "$args" | awk '{ print $2 }')
      [ $((m * 2)) -le "$b" ] && [ $((b % (m * 2))) -eq 0 ] || return 1
      args=$(echo "$args" | sed "s/--micro-batches $m/--micro-batches $((m * 2))/")
      row "$model" "$check-retry" "$b" true "$args" "out of memory: again with $args"
    done
  }

  for model in $MODELS; do
    step "$model: one paper-batch step, B=$STEP_BATCH, $STEP_MATH GEMMs, $(plan_args "$model" "$STEP_BATCH")"
    ours "$model" "$STEP_BATCH" "$STEP_MATH" "paper-batch-step-$STEP_MATH" 0 60 &&
      row "$model" paper-batch-plan "$STEP_BATCH" true "$RAN_PLAN" "plan the paper batch ran with"

    step "$model: timed steps at B=$TIME_BATCH (bf16 GEMMs$([ "$TIME_F32" = 1 ] && echo ", then f32")), $(plan_args "$model" "$TIME_BATCH")"
    ours "$model" "$TIME_BATCH" bf16 step-seconds-bf16 1 100 || continue
    plan=$RAN_PLAN
    row "$model" time-batch-plan "$TIME_BATCH" true "$plan" "plan of the timed comparison (ours and PyTorch)"
    if [ "$TIME_F32" = 1 ]; then
      limited 200 "$DENO" run --allow-all dev/gpu/train_check.ts time --model "$model" \
        --batch "$TIME_BATCH" --math f32 --reps 1 --budget 120 $plan --out "$CSV" \
        2>&1 | tee -a "$OUTDIR/time.log"
      outcome "${PIPESTATUS[0]}" "$model" step-seconds-f32 "$TIME_BATCH" 0
    fi

    step "$model: PyTorch peer at B=$TIME_BATCH, $plan"
    if [ ! -x "$TORCH_PY" ]; then
      row "$model" torch-peer "$TIME_BATCH" true skipped "no PyTorch at $TORCH_PY"
      continue
    fi
    limited 200 "$TORCH_PY" benchmarks/peers/torch_step.py --device cuda --models "$model" \
      --batch "$TIME_BATCH" $plan --dtypes bf16 --compile --reps 2 --budget 150 \
      > "$OUTDIR/torch-$model-compile.jsonl" 2> "$OUTDIR/torch-$model-compile.err"
    rc=$?
    cat "$OUTDIR/torch-$model-compile.jsonl"
    tail -5 "$OUTDIR/torch-$model-compile.err"
    outcome $rc "$model" torch-peer-compile "$TIME_BATCH" 0
    limited 120 "$TORCH_PY" benchmarks/peers/torch_step.py --device cuda --models "$model" \
      --batch "$TIME_BATCH" $plan --dtypes "bf16$([ "$TIME_F32" = 1 ] && echo ,f32)" --reps 2 --budget 50 \
      > "$OUTDIR/torch-$model-eager.jsonl" 2> "$OUTDIR/torch-$model-eager.err"
    rc=$?
    cat "$OUTDIR/torch-$model-eager.jsonl"
    tail -5 "$OUTDIR/torch-$model-eager.err"
    outcome $rc "$model" torch-peer-eager "$TIME_BATCH" 0
  done

  step "the smoke pipeline on cuda (train, evaluate, score, verify against the cpu baselines)"
  limited 180 "$DENO" run --allow-all benchmarks/reproduce/cli.ts --preset smoke --backend cuda \
    --out "$OUTDIR/smoke-cuda" --runs "$OUTDIR/smoke-cuda-runs" --no-progress \
    > "$OUTDIR/smoke-cuda.log" 2>&1
  rc=$?
  tail -3 "$OUTDIR/smoke-cuda.log"
  rm -rf "$OUTDIR/smoke-cuda-runs" # checkpoints: not worth bringing back
  if outcome $rc "" smoke-cuda "" 0; then
    # verify's tolerances were set for cpu runs: a cuda run differs in summation order, so a
    # verify failure is reported, not a failed check; a crash is
    v=$(grep -E "^verify:" "$OUTDIR/smoke-cuda.log" | tail -1)
    if grep -q "^reproduce: finished" "$OUTDIR/smoke-cuda.log"; then
      row "" smoke-cuda "" true "${v:-no verify line}" "deno task reproduce --preset smoke --backend cuda"
    else
      row "" smoke-cuda "" false "exit $rc" "$(grep -E "Error|error" "$OUTDIR/smoke-cuda.log" | head -3 | tr '\n' ' ')"
    fi
  fi
fi

step "summary"
goal=()
[ "${REQUIRE_GOAL:-0}" = 1 ] && goal=(--require-goal)
"$DENO" run --allow-all dev/gpu/summary.ts --csv "$CSV" "${goal[@]}" "$OUTDIR"/torch-*.jsonl
rc=$?
echo "GPU check finished in $((SECONDS - T0)) s with exit status $rc; results in $CSV"
exit $rc
