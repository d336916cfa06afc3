#!/usr/bin/env bash
# Makes sure protoc (Debian's protobuf-compiler) is on PATH: the tests check every generated Triton
# config.pbtxt against Triton's ModelConfig schema with `protoc --encode`. Does nothing when protoc is there.
set -euo pipefail
if command -v protoc >/dev/null 2>&1; then exit 0; fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then as_root=(sudo -n); else
    echo "ensure-protoc: protoc is missing and installing it needs root; run: apt-get install protobuf-compiler" >&2
    exit 1
  fi
fi
quietly() {
  local log
  if ! log=$("$@" 2>&1); then echo "$log" >&2; echo "ensure-protoc: failed: $*" >&2; exit 1; fi
}
export DEBIAN_FRONTEND=noninteractive
quietly ${as_root[@]+"${as_root[@]}"} apt-get update -qq
quietly ${as_root[@]+"${as_root[@]}"} apt-get install -y -qq --no-install-recommends protobuf-compiler
echo "ensure-protoc: $(protoc --version)"
