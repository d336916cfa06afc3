#!/usr/bin/env bash
# Runs on the GPU machine inside the unpacked kit: finds the CUDA 13 and cuDNN 9 libraries (PyTorch's wheels
# ship them), then runs `onnx-parallelize bench` on one GPU given twice (cuda:0,cuda:0) against one plain
# session, and a CPU-free correctness check. Writes everything to $OUT when set.
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
