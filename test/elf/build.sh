#!/usr/bin/env bash
# Builds the tiny shared libraries that stand in for onnxruntime's provider libraries in devices.test.ts (x86-64
# Linux, gcc). Each folder holds a "CUDA provider" that binds a symbol at load time (-z now) and a "shared provider"
# that defines Provider_GetHost, as onnxruntime's does:
#   binds-to-shared/  the provider needs Provider_GetHost: found once onnxruntime has loaded its shared provider
#   unknown-symbol/   the provider needs a symbol nothing defines: a provider built for another onnxruntime
#   tensorrt-without-libnvinfer/  a "TensorRT provider" that needs TensorRT's libnvinfer.so.10, which is not there
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo 'void *Provider_GetHost(void) { return 0; }' > "$work/shared.c"
echo 'extern void *Provider_GetHost(void); void *provider_entry(void) { return Provider_GetHost(); }' > "$work/binds.c"
echo 'extern void *OrtProviderApi_NotInThisRuntime(void); void *provider_entry(void) { return OrtProviderApi_NotInThisRuntime(); }' > "$work/unknown.c"
for folder in binds-to-shared unknown-symbol; do
  mkdir -p "$folder"
  gcc -shared -fPIC -s -o "$folder/libonnxruntime_providers_shared.so" "$work/shared.c"
done
gcc -shared -fPIC -s -Wl,-z,now -o binds-to-shared/libonnxruntime_providers_cuda.so "$work/binds.c"
gcc -shared -fPIC -s -Wl,-z,now -o unknown-symbol/libonnxruntime_providers_cuda.so "$work/unknown.c"
mkdir -p tensorrt-without-libnvinfer
echo 'int nvinfer_stand_in(void) { return 10; }' > "$work/nvinfer.c"
gcc -shared -fPIC -s -Wl,-soname,libnvinfer.so.10 -o "$work/libnvinfer.so.10" "$work/nvinfer.c"
echo 'extern int nvinfer_stand_in(void); int provider_entry(void) { return nvinfer_stand_in(); }' > "$work/tensorrt.c"
gcc -shared -fPIC -s -Wl,-z,now -o tensorrt-without-libnvinfer/libonnxruntime_providers_tensorrt.so "$work/tensorrt.c" "$work/libnvinfer.so.10"
