#!/usr/bin/env bash
# GPU check, in one go, on a machine with an NVIDIA GPU and no registry access (run from the repo
# root). Exits non-zero on the first failed check; writes $OUT/gpu.csv (else dev/gpu/out/gpu.csv).
#
#   1. nvidia-smi works;  2. deno task build:cuda;  3. the cuda tests (cross-backend vs cpu) must
#   run (not be ignored) and pass;  4. dev/gpu/train_check.ts: trm-attn and tr-mamba2attn at ARC
#   shapes, loss on cuda vs cpu at B=4 (two steps), one B=768 step, then the step time.
#
# Deno: the machine has none. Bring the npm package's binary (95 MB; /usr/bin/deno resolves to
# /usr/lib/node_modules/deno/deno here), compressed to fit the 64 MiB working-tree limit:
#   mkdir -p dev/gpu/bin && gzip -9 -c "$(readlink -f "$(command -v deno)")" > dev/gpu/bin/deno.gz
#   echo /dev/gpu/bin/ >> .git/info/exclude     # then carry: ["dev/gpu/bin", "node_modules"]
# node_modules/ (from `deno install --frozen`) must travel too: the npm imports resolve from it.
# Or set DENO to a deno binary already there.
set -uo pipefail
cd "$(dirname "$0")/../.."
export NO_COLOR=1
OUTDIR="${OUT:-dev/gpu/out}"
mkdir -p "$OUTDIR"
fail() { echo "CHECK FAILED: $*"; exit 1; }
step() { echo "== $*"; }

step "nvidia-smi"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || fail "nvidia-smi"

step "deno"
DENO="${DENO:-}"
if [ -z "$DENO" ] && command -v deno >/dev/null 2>&1; then DENO=$(command -v deno); fi
if [ -z "$DENO" ] && [ -x dev/gpu/bin/deno ]; then DENO=dev/gpu/bin/deno; fi
if [ -z "$DENO" ] && [ -f dev/gpu/bin/deno.gz ]; then
  gunzip -c dev/gpu/bin/deno.gz > /tmp/deno && chmod +x /tmp/deno && DENO=/tmp/deno
fi
[ -n "$DENO" ] || fail "no deno (see the header of this script)"
"$DENO" --version | head -1 || fail "deno does not run"
[ -d node_modules ] || fail "node_modules/ missing (carry it; see the header)"

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

step "deno task build:cuda"
"$DENO" run --allow-all engine/backends/cuda/build.ts || fail "build:cuda"
"$DENO" run --allow-all engine/native/build.ts || fail "build:native (the cpu oracle)"

step "cuda tests (own GEMM, then cuBLAS when found)"
for gemm in own auto; do
  log=$(mktemp)
  TRM_CUDA_GEMM=$gemm "$DENO" test --allow-all engine/backends/cuda/cuda_test.ts 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] || fail "cuda tests (TRM_CUDA_GEMM=$gemm)"
  grep -q "SKIPPED" "$log" && fail "cuda tests were skipped: no GPU seen by the backend"
  grep -Eq "[1-9][0-9]* ignored" "$log" && fail "some cuda tests were ignored"
done

step "training check: cuda vs cpu loss, paper-size step, step time"
"$DENO" run --allow-all dev/gpu/train_check.ts --out "$OUTDIR/gpu.csv" || fail "train_check"
echo "all GPU checks passed; results in $OUTDIR/gpu.csv"
