#!/usr/bin/env bash
# gpu-check.sh — one prepared check of nabla's OpenCL backend on a machine
# with a GPU driver and no package access.
#
#   bench/gpu-check.sh pack BUILD_DIR BUNDLE_DIR
#       (here, after building) copy the nabla binary, the OpenCL op tests,
#       bench_gemm, bench/torch_mlp.py, this script, and every shared
#       library they need that is not part of the C library itself (the
#       OpenCL ICD loader included) into BUNDLE_DIR.
#   bench/gpu-check.sh run [BUNDLE_DIR] [--report FILE] [--quick]
#       (there) find the vendor's OpenCL driver, then run the op tests on
#       the OpenCL device, `nabla gradcheck`, `nabla tune --quick`,
#       `nabla bench`, bench_gemm at 1024-4096 squares and, where PyTorch
#       with CUDA exists, bench/torch_mlp.py on the GPU, and write one
#       report (default BUNDLE_DIR/gpu-report.md). BUNDLE_DIR defaults to
#       the folder this script is in. A step that fails is recorded and the
#       next one still runs; the exit status is 0 when every step passed.
#
# Finding OpenCL: $NABLA_OPENCL_LIBRARY when set; else the system's ICD
# loader (libOpenCL.so.1) when the dynamic linker knows one; else the
# loader carried in BUNDLE_DIR/lib. When no /etc/OpenCL/vendors/*.icd
# exists, the vendors' driver libraries are looked for in the usual
# folders and listed in a private vendors folder (OCL_ICD_VENDORS).
#
# Environment: GPU_CHECK_DEVICE, as opencl:P.D (default: the first OpenCL
# GPU or accelerator `nabla devices` lists, else its first OpenCL
# device), GPU_CHECK_STEP_S
# (the time limit of one step, default 240 s).
set -u

die() { echo "gpu-check: $*" >&2; exit 2; }

# ------------------------------------------------------------------ pack
pack() {
    local build=$1 out=$2
    [ -x "$build/nabla" ] || die "pack: $build/nabla is not built"
    mkdir -p "$out/bin" "$out/lib" || die "pack: cannot create $out"
    local here
    here=$(cd "$(dirname "$0")" && pwd)
    local bins=("$build/nabla")
    for t in test_backend_ops test_backend_fused test_schedule; do
        [ -x "$build/tests/$t" ] && bins+=("$build/tests/$t")
    done
    [ -x "$build/bench/bench_gemm" ] && bins+=("$build/bench/bench_gemm")
    cp "${bins[@]}" "$out/bin/" || die "pack: copying the binaries failed"
    cp "$here/gpu-check.sh" "$here/torch_mlp.py" "$out/" || die "pack: copying the scripts failed"
    # Every library the binaries load, except the C library's own parts,
    # which must come from the machine they run on.
    local libs
    libs=$(ldd "${bins[@]}" 2>/dev/null | awk '/=> \// {print $3}' | sort -u |
        grep -Ev '/(libc|libm|libdl|libpthread|librt|libresolv|ld-linux[^/]*)\.so' || true)
    # The ICD loader is opened at run time (dlopen), so ldd does not list it.
    for l in /usr/lib/x86_64-linux-gnu/libOpenCL.so.1 /usr/lib64/libOpenCL.so.1; do
        [ -e "$l" ] && { libs="$libs $l"; break; }
    done
    for l in $libs; do cp -L "$l" "$out/lib/" || die "pack: copying $l failed"; done
    echo "packed $(ls "$out/bin" | wc -l) programs and $(ls "$out/lib" | wc -l) libraries into $out"
}

# ------------------------------------------------------------------- run
report=""
failed=0
step_limit=${GPU_CHECK_STEP_S:-240}

say() { printf '%s\n' "$*" >>"$report"; }

# step NAME CMD...: run it with a time limit, record command, status,
# seconds and the output's last 80 lines in the report.
step() {
    local name=$1; shift
    local out t0 t1 rc
    out=$(mktemp)
    t0=$(date +%s.%N)
    timeout "$step_limit" "$@" >"$out" 2>&1
    rc=$?
    t1=$(date +%s.%N)
    local secs
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')
    [ $rc -eq 0 ] || failed=$((failed + 1))
    echo "gpu-check: $name: exit $rc, $secs s" >&2
    say "## $name"
    say ""
    say "\`$*\` — exit $rc$([ $rc -eq 124 ] && echo ' (time limit)'), $secs s"
    say ""
    say '```'
    tail -n 80 "$out" >>"$report"
    say '```'
    say ""
    rm -f "$out"
    return $rc
}

find_opencl() {
    if [ -n "${NABLA_OPENCL_LIBRARY:-}" ]; then
        say "- OpenCL library: \$NABLA_OPENCL_LIBRARY = $NABLA_OPENCL_LIBRARY"
    elif ldconfig -p 2>/dev/null | grep -q 'libOpenCL\.so\.1 '; then
        say "- OpenCL library: the system's ICD loader ($(ldconfig -p | awk '/libOpenCL\.so\.1 / {print $NF; exit}'))"
    elif [ -e "$bundle/lib/libOpenCL.so.1" ]; then
        export NABLA_OPENCL_LIBRARY="$bundle/lib/libOpenCL.so.1"
        say "- OpenCL library: the ICD loader carried in the bundle"
    else
        say "- OpenCL library: none found (no loader on the system or in the bundle)"
    fi
    if ls /etc/OpenCL/vendors/*.icd >/dev/null 2>&1; then
        say "- ICD files: $(ls /etc/OpenCL/vendors/*.icd | tr '\n' ' ')"
        return
    fi
    # No registered vendor: list the driver libraries we can find.
    local vend found=""
    vend=$(mktemp -d)
    for dir in /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib /usr/local/lib /opt/rocm/lib \
               /usr/local/nvidia/lib64 /usr/lib/x86_64-linux-gnu/nvidia/current; do
        for lib in libnvidia-opencl.so.1 libamdocl64.so libintelocl.so libigdrcl.so libpocl.so.2; do
            if [ -e "$dir/$lib" ] && ! echo "$found" | grep -q "$lib"; then
                echo "$dir/$lib" >"$vend/$lib.icd"
                found="$found $lib"
            fi
        done
    done
    if [ -n "$found" ]; then
        export OCL_ICD_VENDORS="$vend"
        say "- ICD files: none registered; found driver libraries:$found (listed in a private vendors folder)"
    else
        say "- ICD files: none registered and no driver library found"
    fi
}

run() {
    bundle=""
    local quick=0
    while [ $# -gt 0 ]; do
        case $1 in
        --report) report=$2; shift 2 ;;
        --quick) quick=1; shift ;;
        -*) die "run: unknown option $1" ;;
        *) bundle=$1; shift ;;
        esac
    done
    [ -n "$bundle" ] || bundle=$(cd "$(dirname "$0")" && pwd)
    bundle=$(cd "$bundle" && pwd) || die "run: no folder $bundle"
    local bin=$bundle/bin
    [ -x "$bin/nabla" ] || die "run: $bin/nabla not found (pack a bundle first)"
    [ -n "$report" ] || report=$bundle/gpu-report.md
    : >"$report" || die "run: cannot write $report"
    export LD_LIBRARY_PATH="$bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

    say "# nabla GPU check"
    say ""
    say "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    say "- nabla: $("$bin/nabla" --version 2>/dev/null | head -n 1 || echo '?')"
    say "- host: $(uname -srm), $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
    if command -v nvidia-smi >/dev/null 2>&1; then
        say "- nvidia-smi: $(nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv,noheader 2>&1 | head -n 4 | tr '\n' ';')"
    fi
    find_opencl
    say ""

    step "devices" "$bin/nabla" devices
    local dev=${GPU_CHECK_DEVICE:-}
    if [ -z "$dev" ]; then
        # The first GPU or accelerator `nabla devices` lists, else its first
        # OpenCL device (a device's second line names its type).
        dev=$("$bin/nabla" devices 2>/dev/null | awk '
            /^opencl:[0-9]+\.[0-9]+/ { id = $1; if (first == "") first = id; next }
            id != "" && /; (GPU|ACCELERATOR)/ { print id; found = 1; exit }
            { id = "" }
            END { if (!found && first != "") print first }')
        [ -n "$dev" ] || dev=opencl:0.0
    fi
    say "Device checked: \`$dev\`"
    say ""

    for t in test_backend_ops test_backend_fused test_schedule; do
        [ -x "$bin/$t" ] && step "op tests: $t" env NABLA_TEST_DEVICE="$dev" "$bin/$t"
    done
    step "gradcheck" "$bin/nabla" gradcheck --device "$dev"
    if "$bin/nabla" tune --help >/dev/null 2>&1; then
        step "tune --quick" "$bin/nabla" tune --device "$dev" --quick
    else
        say "## tune --quick"; say ""; say "skipped: this nabla has no tune command"; say ""
    fi
    local reps=5 json=$bundle/gpu-bench.json
    if [ $quick = 1 ]; then
        step "bench" "$bin/nabla" bench --device "$dev" --workload tiny --reps "$reps" --json "$json"
    else
        step "bench" "$bin/nabla" bench --device "$dev" --reps "$reps" --json "$json"
    fi
    if [ -x "$bin/bench_gemm" ]; then
        local sizes=1024,2048,4096
        [ $quick = 1 ] && sizes=256
        step "GEMM squares" "$bin/bench_gemm" --set square --sizes "$sizes" --devices "$dev" \
            --no-peers --reps 5
    fi
    if command -v python3 >/dev/null 2>&1 &&
        python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
        local w="W1,W2,W3,W4"
        [ $quick = 1 ] && w=W4
        step "PyTorch on CUDA (float32, TF32 off)" python3 "$bundle/torch_mlp.py" --device cuda \
            --workloads "$w" --json "$bundle/gpu-torch.json"
    else
        say "## PyTorch on CUDA"; say ""; say "skipped: no PyTorch with CUDA here"; say ""
    fi
    say "**$failed step(s) failed.**"
    echo "gpu-check: report in $report ($failed step(s) failed)" >&2
    [ $failed -eq 0 ]
}

case ${1:-} in
pack) [ $# -eq 3 ] || die "usage: $0 pack BUILD_DIR BUNDLE_DIR"; pack "$2" "$3" ;;
run) shift; run "$@" ;;
*) die "usage: $0 pack BUILD_DIR BUNDLE_DIR | $0 run [BUNDLE_DIR] [--report FILE] [--quick]" ;;
esac
