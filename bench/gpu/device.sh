#!/usr/bin/env bash
# Runs inside the unpacked GPU kit (/tmp/kit) on the GPU machine; see README.md and make-kit.sh.
#   device.sh a            after unpacking a.tar.xz: the GPU, the CUDA libraries found, Node's version, and the
#                          benchmark MLPs made into models/ (4x1024, 16 MB; 8x4096, 512 MB)
#   device.sh b            after unpacking b.tar.xz too: correctness of every model on cuda:0,cuda:0 and GPU memory
#                          (gpu-check.mjs); `bench` one batch at a time for both MLPs on cuda:0 and cuda:0,cuda:0,
#                          with ordinary inputs, with --shared-inputs, and with --shared-inputs --shared-outputs;
#                          serving at several concurrency levels;
#                          a device that is not there. Writes $OUT/summary.txt (also printed) and
#                          $OUT/gpu-results.tar.xz (every report: bench JSON, logs).
#   device.sh env CMD...   any command with the kit's node first on PATH and the CUDA libraries on LD_LIBRARY_PATH
# OUT: where results go (default: the kit's out/). BATCHES (default "1 64 1024"), RUNS (40), LEVELS (1,16,64,256)
# and DURATION (2, seconds per level) change the benchmarks. CUDA_LIBS: folders to search first for the CUDA 13
# and cuDNN 9 libraries (else /opt, /usr/local, /usr/lib and python3's site-packages are searched).
set -euo pipefail
kit=$(cd "$(dirname "$0")" && pwd)
out=$(mkdir -p "${OUT:-$kit/out}" && cd "${OUT:-$kit/out}" && pwd)
cd "$kit"

# The folders holding CUDA 13 and cuDNN 9 (a toolkit's, or the nvidia-* wheels a PyTorch environment brings).
site=$(python3 -c 'import site, sys; print(" ".join(site.getsitepackages() + [site.getusersitepackages()]))' 2>/dev/null || true)
libs=$( { find ${CUDA_LIBS:-} /opt /usr/local /usr/lib $site \( -name 'libcudart.so.13*' -o -name 'libcublas.so.13*' \
  -o -name 'libcublasLt.so.13*' -o -name 'libcudnn.so.9*' -o -name 'libcufft.so.12*' -o -name 'libcurand.so.10*' \) \
  2>/dev/null || true; } | xargs -r -n1 dirname | awk '!seen[$0]++' | paste -sd: -)
export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" PATH="$kit:$PATH"

cli=(node app/dist/src/cli/main.js)

# One line from a `bench --json` report: speed-up, both p50s, what ParallelSession added, and per device the
# median time inside onnxruntime's run() and the median round trip. Usage: bench_line LABEL REPORT ERRORS EXIT
bench_line() {
  node -e '
const fs = require("fs");
const [label, file, errors, exit] = process.argv.slice(1);
let r;
try { r = JSON.parse(fs.readFileSync(file, "utf8")); } catch {
  const why = fs.readFileSync(errors, "utf8").trim().split("\n").filter(Boolean).slice(-2).join(" | ").slice(0, 300);
  console.log(`${label}: exit ${exit}, no report: ${why || "(no output)"}`);
  process.exit(0);
}
const ms = (v) => (v === undefined || v === null ? "-" : v.toFixed(2));
const devices = (r.timing ?? []).map((t) => `${ms(t.runMs)}/${ms(t.roundTripMs)} (in ${ms(t.inputMs)}, out ${ms(t.outputMs)})`).join(", ");
console.log(`${label}: speed-up ${r.speedup.toFixed(2)}x, p50 plain ${ms(r.single.p50)} ms, ParallelSession ${ms(r.parallel.p50)} ms, ` +
  `added ${ms(r.addedMs)} ms; run()/round trip ms per device, with the worker's time on inputs and outputs: ${devices}`);
' "$@"
}

part_b() {
  local gpu
  gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -n1 || true)
  echo "== ${gpu:-no GPU found (nvidia-smi failed)}; Node $(node --version); $(cat VERSION)"
  echo "== correctness: ParallelSession on cuda:0,cuda:0 against a plain CUDA session and the CPU; GPU memory"
  local rc=0
  BIG_MODEL=models/mlp-8x4096.onnx timeout 300 node gpu-check.mjs "$kit" > "$out/check.log" 2>&1 || rc=$?
  grep -v '^{' "$out/check.log" || true
  echo "gpu-check exit $rc"

  echo "== bench, one batch at a time (${RUNS:-40} runs each, interleaved with a plain session on cuda:0);"
  echo "   speed-up and p50s: ParallelSession against the plain session; added: its p50 less the longest run()"
  local m devices b shared name
  for m in 4x1024 8x4096; do for devices in cuda:0 cuda:0,cuda:0; do for b in ${BATCHES:-1 64 1024}; do
    for shared in "" "--shared-inputs" "--shared-inputs --shared-outputs"; do
      local variant label
      case "$shared" in "") variant="" label="";; "--shared-inputs") variant=-shared label=", shared inputs";; *) variant=-in-place label=", shared inputs, outputs in place";; esac
      name="bench-$m-${devices//[:,]/_}-$b$variant"
      rc=0
      timeout 180 "${cli[@]}" bench "models/mlp-$m.onnx" --devices "$devices" --batch "$b" --runs "${RUNS:-40}" $shared --json \
        > "$out/$name.json" 2> "$out/$name.err" || rc=$?
      bench_line "mlp-$m on $devices, batch $b$label" "$out/$name.json" "$out/$name.err" "$rc" \
        || echo "mlp-$m on $devices, batch $b$label: exit $rc, report not readable"
    done
  done; done; done

  for devices in cuda:0 cuda:0,cuda:0; do
    echo "== serving: batch-1 requests in a closed loop, mlp-4x1024, plain session on cuda:0 against ParallelSession on $devices"
    name="serve-4x1024-${devices//[:,]/_}"
    rc=0
    timeout 240 "${cli[@]}" bench models/mlp-4x1024.onnx --devices "$devices" --concurrency "${LEVELS:-1,16,64,256}" \
      --duration "${DURATION:-2}" > "$out/$name.txt" 2>&1 || rc=$?
    tail -n 7 "$out/$name.txt"
    echo "exit $rc"
  done

  echo "== a device that is not there: cuda:0,cuda:7"
  rc=0
  timeout 60 "${cli[@]}" bench models/mlp-4x1024.onnx --devices cuda:0,cuda:7 --batch 8 --runs 2 > "$out/missing-device.txt" 2>&1 || rc=$?
  tail -n 3 "$out/missing-device.txt"
  echo "exit $rc"

  echo "== GPU set-up: devices, the preflight devices --gpus all, bench given no devices"
  rc=0
  timeout 60 "${cli[@]}" devices > "$out/devices.txt" 2>&1 || rc=$?
  cat "$out/devices.txt"
  echo "exit $rc"
  rc=0
  timeout 60 "${cli[@]}" devices --gpus all > "$out/devices-preflight.txt" 2>&1 || rc=$?
  tail -n 3 "$out/devices-preflight.txt"
  echo "exit $rc"
  rc=0
  timeout 60 "${cli[@]}" bench models/mlp-4x1024.onnx --batch 8 --runs 3 > "$out/default-devices.txt" 2>&1 || rc=$?
  head -n 3 "$out/default-devices.txt"
  echo "exit $rc"
}

case "${1:-}" in
a)
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "nvidia-smi failed: no GPU?"
  echo "CPU cores $(nproc); CUDA libraries: ${libs:-none found}"
  echo "Node $(node --version); $(cat VERSION)"
  node app/dist/bench/make-bench-model.js models/mlp-4x1024.onnx 4 1024
  node app/dist/bench/make-bench-model.js models/mlp-8x4096.onnx 8 4096
  rm -rf app/bench/out # make-bench-model's cache: the models are in models/ now
  ls -la models/mlp-*.onnx
  ;;
b)
  [[ -f app/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so ]] || { echo "part b is not unpacked into $kit" >&2; exit 2; }
  [[ -f models/mlp-8x4096.onnx ]] || { echo "no benchmark MLPs: run device.sh a first" >&2; exit 2; }
  part_b 2>&1 | tee "$out/summary.txt"
  # Everything but the summary into one archive, then the loose files removed. The archive is written outside
  # $out first: tar exits 1 ("file changed as we read it") when it grows inside the folder being read.
  (cd "$out" && tar cJf "$kit/gpu-results.tar.xz" --exclude summary.txt . \
    && find . -type f ! -name summary.txt -delete && mv "$kit/gpu-results.tar.xz" .)
  ls -la "$out"
  ;;
env)
  shift
  "$@"
  ;;
*)
  echo "usage: device.sh a | b | env CMD..." >&2
  exit 2
  ;;
esac
