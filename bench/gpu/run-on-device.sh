#!/usr/bin/env bash
# Runs on the GPU machine inside the unpacked kit (see make-kit.sh): finds the CUDA 13 and cuDNN 9 libraries
# (a CUDA toolkit's, or those PyTorch's wheels ship), then runs `onnx-parallelize bench` on one GPU given twice
# (cuda:0,cuda:0) against one plain session. Writes the GPU's name and a JSON report per batch to the existing
# folder $OUT (default: the kit's folder). BATCHES and RUNS override the batches (64 256 1024) and runs (30).
set -uo pipefail
cd "$(dirname "$0")"
out=${OUT:-.}
libs=$(find / \( -name 'libcudart.so.13*' -o -name 'libcublas.so.13*' -o -name 'libcudnn.so.9*' -o -name 'libcufft.so.12*' -o -name 'libcurand.so.10*' \) 2>/dev/null | xargs -r -n1 dirname | sort -u | paste -sd:)
export LD_LIBRARY_PATH="${libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
cli="./node app/dist/src/cli/main.js"
for batch in ${BATCHES:-64 256 1024}; do
  $cli bench mlp-4x1024.onnx --devices cuda:0,cuda:0 --batch "$batch" --runs "${RUNS:-30}" --json > "$out/bench-$batch.json" 2> "$out/bench-$batch.err"
  echo "batch $batch: exit $?"; cat "$out/bench-$batch.json" "$out/bench-$batch.err" | head -40
done
# Serving: closed-loop batch-1 requests, a plain session against ParallelSession on one GPU and on it twice.
for devices in cuda:0 cuda:0,cuda:0; do
  $cli bench mlp-4x1024.onnx --devices "$devices" --concurrency 1,16,64,256 --duration "${DURATION:-3}" --json > "$out/serve-${devices//[:,]/_}.json" 2> "$out/serve-${devices//[:,]/_}.err"
  echo "serving on $devices: exit $?"; head -c 4000 "$out/serve-${devices//[:,]/_}.json"; head -20 "$out/serve-${devices//[:,]/_}.err"
done
