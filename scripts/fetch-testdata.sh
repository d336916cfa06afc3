#!/usr/bin/env bash
# Fetches Debian's ONNX conformance data (libonnx-testdata 1.12.0-2) into .cache/onnx-testdata, once.
# Only unpacks the .deb (apt-get download + dpkg-deb -x): nothing is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.cache/onnx-testdata
marker="$dest/usr/share/libonnx-testdata/data"
if [ -d "$marker/node" ]; then exit 0; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
if ! apt-get download libonnx-testdata=1.12.0-2 >/dev/null 2>&1; then
  apt-get update >/dev/null 2>&1 || true
  apt-get download libonnx-testdata=1.12.0-2 >/dev/null 2>&1 || apt-get download libonnx-testdata >/dev/null
fi
dpkg-deb -x libonnx-testdata_*.deb unpacked
cd - >/dev/null
rm -rf "$dest"
mkdir -p .cache
mv "$work/unpacked" "$dest"
echo "onnx-testdata: $(find "$marker" -name model.onnx | wc -l) models in $dest"
