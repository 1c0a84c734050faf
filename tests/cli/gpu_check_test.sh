#!/usr/bin/env bash
# gpu_check_test.sh — bench/gpu-check.sh end to end on this machine's
# OpenCL device: pack the build into a bundle, run the bundle's quick
# check, and require a report in which every step ran and passed.
# Usage: gpu_check_test.sh SOURCE_DIR BUILD_DIR WORK_DIR
set -u
src=$1 build=$2 work=$3
if ! "$build/nabla" devices 2>/dev/null | grep -q '^opencl:'; then
    echo "skipped: no OpenCL device"
    exit 0
fi
rm -rf "$work" && mkdir -p "$work" || exit 1
bash "$src/bench/gpu-check.sh" pack "$build" "$work/bundle" || exit 1
GPU_CHECK_STEP_S=120 bash "$work/bundle/gpu-check.sh" run --quick || {
    cat "$work/bundle/gpu-report.md"; exit 1; }
report=$work/bundle/gpu-report.md
fail=0
for s in "## devices" "## op tests: test_backend_ops" "## gradcheck" "## bench" "**0 step(s) failed.**"; do
    grep -qF "$s" "$report" || { echo "report lacks: $s"; fail=1; }
done
# Each step recorded its exit status; none may be other than 0.
if grep -E '^`.*` — exit [1-9]' "$report"; then fail=1; fi
[ $fail -eq 0 ] && echo "gpu-check: every step passed ($(grep -c '^## ' "$report") sections)"
exit $fail
