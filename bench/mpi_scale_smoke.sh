#!/bin/sh
# mpi_scale_smoke.sh — the CTest smoke test of bench_mpi_scale (label
# "mpi"): 2 ranks on tiny shapes for 2 updates, mini-batch and full batch.
# It checks that each run exits 0 and rank 0 prints exactly one row with
# the shape, 2 ranks, 1 thread, 2 updates and a positive rate, that --json
# records the same, and that a bad argument stops every rank with one
# message. No timing is asserted.
#
#   mpi_scale_smoke.sh EXE MPIEXEC [MPIEXEC_FLAGS...]
set -u
exe=$1
shift
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mpi_scale_smoke.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() {
    echo "FAIL: $*"
    fail=1
}

# A row: name, layers, ranks, threads, updates, batch, samples/s median.
for batch in 16 0; do
    want_batch=$batch
    [ "$batch" = 0 ] && want_batch=64 # full batch: every row in one step
    "$@" 2 "$exe" --custom 8,16,4 --n 64 --batch "$batch" --updates 2 --reps 1 \
        --json "$tmp/out.json" >"$tmp/out.txt" 2>"$tmp/err.txt"
    rc=$?
    cat "$tmp/out.txt"
    [ "$rc" = 0 ] || { cat "$tmp/err.txt"; bad "batch $batch: exit status $rc"; continue; }
    rows=$(grep -c -E "^custom +8-16-4 +2 +1 +2 +$want_batch +[0-9]*[1-9][0-9]* " "$tmp/out.txt")
    [ "$rows" = 1 ] || bad "batch $batch: $rows rows for 2 ranks, 2 updates, batch $want_batch (want 1)"
    others=$(grep -v '^#' "$tmp/out.txt" | grep -c -v '^workload')
    [ "$others" = 1 ] || bad "batch $batch: $others rows in all (want 1: rank 0 alone prints)"
    grep -q '"ranks": 2,' "$tmp/out.json" || bad "batch $batch: --json lacks \"ranks\": 2"
    grep -q '"updates": 2,' "$tmp/out.json" || bad "batch $batch: --json lacks \"updates\": 2"
    rm -f "$tmp/out.json"
done

# A bad argument: every rank refuses it, one message (rank 0's), no row.
"$@" 2 "$exe" --custom 8,16,4 --n 64 --reps 0 >"$tmp/out.txt" 2>"$tmp/err.txt"
rc=$?
[ "$rc" != 0 ] || bad "--reps 0: exit status 0"
msgs=$(grep -c 'mpi_scale: --reps' "$tmp/err.txt")
[ "$msgs" = 1 ] || { cat "$tmp/err.txt"; bad "--reps 0: $msgs messages (want 1)"; }
if grep -q '^custom' "$tmp/out.txt"; then bad "--reps 0: a row was printed"; fi

[ "$fail" = 0 ] && echo "mpi_scale smoke: ok"
exit "$fail"
