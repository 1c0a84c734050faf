#!/bin/sh
# mpi_scale.sh — 1 rank × 1 thread against 2 ranks × 1 thread of
# nb_train_dist on the pure-C backend (bench_mpi_scale), in alternating
# rounds so that a drift of the machine hits both alike, then one Markdown
# table: per workload the median over the rounds of each side's samples/s
# median, their ratio, and where a 2-rank update's time goes.
#
#   bench/mpi_scale.sh [--build DIR] [--rounds N] [--log-dir DIR] [-- ARGS]
#
# ARGS go to bench_mpi_scale (default: --workloads W1,W2 --reps 5 --seconds 3).
# MPIRUN names the launcher (default mpirun; Open MPI's --oversubscribe is
# passed, and --allow-run-as-root when run as root).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
build="$here/../build"
rounds=3
logs=""
usage() {
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
}
while [ $# -gt 0 ]; do
    case "$1" in
    --build) build=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --log-dir) logs=$2; shift 2 ;;
    --help | -h) usage; exit 0 ;;
    --) shift; break ;;
    *) echo "mpi_scale.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done
case "$rounds" in '' | *[!0-9]* | 0) echo "mpi_scale.sh: --rounds: a whole number ≥ 1" >&2; exit 2 ;; esac
[ $# -gt 0 ] || set -- --workloads W1,W2 --reps 5 --seconds 3

exe="$build/bench/bench_mpi_scale"
if [ ! -x "$exe" ]; then
    echo "mpi_scale.sh: $exe not found (build with MPI: cmake -DNABLA_MPI=ON)" >&2
    exit 2
fi
mpirun=${MPIRUN:-mpirun}
flags="--oversubscribe"
[ "$(id -u)" = 0 ] && flags="$flags --allow-run-as-root"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mpi_scale.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
[ -n "$logs" ] && mkdir -p "$logs"

# One run of $np ranks in round $r, with the ARGS ("$@"): its rows (no
# header) appended to $tmp/rows, its whole output kept.
run() {
    out="$tmp/run-$r-np$np.txt"
    echo "mpi_scale.sh: round $r, $np rank(s) ..." >&2
    # shellcheck disable=SC2086 # flags is a list of words
    if ! "$mpirun" $flags -np "$np" "$exe" --no-header "$@" >"$out" 2>&1; then
        cat "$out" >&2
        echo "mpi_scale.sh: the $np-rank run of round $r failed" >&2
        exit 1
    fi
    grep -v '^#' "$out" >>"$tmp/rows"
    [ -z "$logs" ] || cp "$out" "$logs/"
}

: >"$tmp/rows"
r=1
while [ "$r" -le "$rounds" ]; do
    # Alternate which side goes first.
    for np in $([ $((r % 2)) = 1 ] && echo 1 2 || echo 2 1); do
        run "$@"
    done
    r=$((r + 1))
done

commit=$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)
cpu=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
echo "machine: ${cpu:-unknown}, $(nproc) CPUs; commit $commit; $(date -u +%Y-%m-%d)"
echo "load before the table: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
echo "rounds: $rounds; bench_mpi_scale $*"
echo
# Row fields (bench_mpi_scale's table): 1 workload, 2 layers, 3 ranks,
# 4 threads, 5 updates, 6 batch, 7 samples/s median, 8 (min-max),
# 9 s/update, 10 comm s/update, 11 comm%, 12 allreduce alone, 13 call s,
# 14 rate (window or call).
awk '
function median(list,    v, n, i, j, t) {
    n = split(list, v, " ")
    for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) {
        t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
    }
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
function lo(list,    v, n, i, m) { n = split(list, v, " "); m = v[1]; for (i = 2; i <= n; i++) if (v[i] + 0 < m + 0) m = v[i]; return m }
function hi(list,    v, n, i, m) { n = split(list, v, " "); m = v[1]; for (i = 2; i <= n; i++) if (v[i] + 0 > m + 0) m = v[i]; return m }
NF >= 13 {
    w = $1; k = $3
    if (!(w in seen)) { seen[w] = 1; order[++nw] = w }
    sps[w, k] = sps[w, k] " " $7
    spu[w, k] = spu[w, k] " " $9
    cpu_[w, k] = cpu_[w, k] " " $10
    share[w, k] = share[w, k] " " ($11 + 0)
    alone[w, k] = alone[w, k] " " $12
}
END {
    print "| workload | 1×1 samples/s | 2×1 samples/s | 2×1 ÷ 1×1 | s/update 1×1 | s/update 2×1 | all-reduce s/update 2×1 (alone) | comm share 2×1 |"
    print "|---|---:|---:|---:|---:|---:|---:|---:|"
    for (i = 1; i <= nw; i++) {
        w = order[i]
        a = median(sps[w, 1]); b = median(sps[w, 2])
        printf "| %s | %.0f (%.0f–%.0f) | %.0f (%.0f–%.0f) | %.2f× | %.4f | %.4f | %.4f (%.4f) | %.1f%% (%.1f–%.1f) |\n", \
            w, a, lo(sps[w, 1]), hi(sps[w, 1]), b, lo(sps[w, 2]), hi(sps[w, 2]), b / a, \
            median(spu[w, 1]), median(spu[w, 2]), median(cpu_[w, 2]), median(alone[w, 2]), \
            median(share[w, 2]), lo(share[w, 2]), hi(share[w, 2])
        ratio[w] = b / a; sh[w] = median(share[w, 2])
    }
    print ""
    print "Each cell: the median over the rounds of each run'"'"'s median of its repetitions"
    print "(in brackets: the lowest and highest run). The all-reduce time includes the wait"
    print "for the slower rank; \"alone\" is the gradient'"'"'s all-reduce with no training."
    if ("wide" in ratio)
        printf "\nGoal W2 (wide): 2 ranks ≥ 1.8× one rank: %s (%.2f×)\n", (ratio["wide"] >= 1.8 ? "met" : "missed"), ratio["wide"]
    if ("mnist" in sh)
        printf "Goal W1 (mnist): communication ≤ 10%% of a step: %s (%.1f%%)\n", (sh["mnist"] <= 10 ? "met" : "missed"), sh["mnist"]
}' "$tmp/rows"
