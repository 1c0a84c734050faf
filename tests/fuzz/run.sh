#!/usr/bin/env bash
# run.sh — runs nabla's fuzz targets from a built fuzzing tree, each for a
# fixed time on its seed corpus, and says per target how it went.
#
#   tests/fuzz/run.sh BUILD_DIR [SECONDS_PER_TARGET] [FINDINGS_DIR]
#
# BUILD_DIR was configured with -DNABLA_FUZZ=ON and built, which also
# wrote its seeds to BUILD_DIR/fuzz_corpus/<target>; this script builds
# nothing. SECONDS_PER_TARGET defaults to 30. FINDINGS_DIR (default
# BUILD_DIR/fuzz_findings) gets, per target, the corpus the run grew
# (corpus/<target>), its log (<target>.log) and any input that crashed,
# leaked, timed out or ran out of memory (<target>/crash-*, leak-*, ...).
#
# NABLA_FUZZ_TARGETS picks targets (default "csv checkpoint model resume idx").
# Before fuzzing, every saved reproducer tests/fuzz/regressions/<target>-*
# is run once; one that still fails counts as a finding.
#
# The last line counts the targets: "fuzz: N passed, N failed"; a target
# fails when it found something or one of its reproducers still fails.
# Exit status: 0 if none failed, 1 if one did, 2 on bad usage. Needs no
# stdin and no network.
set -uo pipefail

usage() { echo "usage: $0 BUILD_DIR [SECONDS_PER_TARGET] [FINDINGS_DIR]" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 3 ] || usage
build=$(cd "$1" 2>/dev/null && pwd) || usage
secs=${2:-30}
out=${3:-$build/fuzz_findings}
[[ $secs =~ ^[1-9][0-9]*$ ]] || usage
here=$(cd "$(dirname "$0")" && pwd)
bin=$build/tests/fuzz
[ -d "$build/fuzz_corpus" ] || { echo "$0: no $build/fuzz_corpus: build it first" >&2; exit 2; }
mkdir -p "$out" || exit 2
out=$(cd "$out" && pwd)

# A quarantine of 64 MB instead of 256 keeps freed memory from pushing a
# long run toward the RSS limit (the checkpoint target frees megabytes of
# JSON tree per input), while still catching uses after free.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:quarantine_size_mb=64}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# The limits every run shares. An input is at most 64 KiB; 10 s for one
# input is far beyond what a linear-time load of 64 KiB takes even under
# the sanitizers, so a timeout means the time is not linear; 512 MB of RSS
# holds the fuzzer, the sanitizers' shadow and quarantine, and any load
# within its bound below.
common=(-max_len=65536 -timeout=10 -rss_limit_mb=512)

# The largest single allocation one load may make, in MB. Each harness
# checks the total a load holds against the loader's documented bound
# exactly (fuzz_util.h); this is the same bound applied by libFuzzer to
# every single malloc, as a second line that also covers the harnesses.
#   csv         2 x size for the dataset, a 1 MiB line buffer: under 2 MB;
#   checkpoint  2 x size + 16 MiB (safetensors.h): 17;
#   model       the container, plus the model at 4 bytes per parameter,
#               each parameter being 4 bytes of the file: 6 x size +
#               16 MiB, also 17 at 64 KiB;
#   resume      the model's, since no single allocation of a resume is
#               larger than one of a model load: 17;
#   idx         4 bytes per pixel of the decompressed content. 64 KiB of
#               deflate inflate to at most about 1032 x 64 KiB = 66 MiB,
#               so one array of 4 x 66 MiB: 272. Reaching that needs a
#               gzip stream whose CRC-32 holds (the loader allocates only
#               after inflating everything and checking the trailer),
#               which mutations practically never produce.
declare -A malloc_mb=([csv]=2 [checkpoint]=17 [model]=17 [resume]=17 [idx]=272)
# Tokens of the formats, so mutations speak them (libFuzzer dictionaries).
declare -A dict=([csv]=csv.dict [checkpoint]=safetensors.dict [model]=safetensors.dict
                 [resume]=resume.dict)
read -r -a targets <<<"${NABLA_FUZZ_TARGETS:-csv checkpoint model resume idx}"

failed=0 passed=0
for t in "${targets[@]}"; do
  ok=1
  [ -n "${malloc_mb[$t]:-}" ] || { echo "$0: no target $t" >&2; exit 2; }
  exe=$bin/fuzz_$t
  if [ ! -x "$exe" ]; then
    echo "$0: $exe is missing: was the tree built with clang and NABLA_FUZZ=ON?" >&2
    exit 2
  fi
  flags=("${common[@]}" -malloc_limit_mb="${malloc_mb[$t]}")
  mkdir -p "$out/$t" "$out/corpus/$t"

  for r in "$here"/regressions/"$t"-*; do
    [ -f "$r" ] || continue
    log=$out/$t/$(basename "$r").log
    if "$exe" "${flags[@]}" "$r" </dev/null >"$log" 2>&1; then
      echo "fuzz_$t: reproducer $(basename "$r") passes"
    else
      echo "fuzz_$t: reproducer $(basename "$r") still fails (log $log)"
      ok=0
    fi
  done

  start=$(date +%s)
  touch "$out/$t/.started" # findings of this run are newer than it
  fuzz_flags=(-max_total_time="$secs" -print_final_stats=1)
  [ -n "${dict[$t]:-}" ] && fuzz_flags+=(-dict="$here/${dict[$t]}")
  "$exe" "${flags[@]}" "${fuzz_flags[@]}" \
    -artifact_prefix="$out/$t/" "$out/corpus/$t" "$build/fuzz_corpus/$t" </dev/null \
    >"$out/$t.log" 2>&1
  rc=$?
  took=$(($(date +%s) - start))
  final_stat() { sed -n "s/^stat::$1: *//p" "$out/$t.log" | tail -n 1; }
  runs=$(final_stat number_of_executed_units)
  slowest=$(final_stat slowest_unit_time_sec)
  rss=$(final_stat peak_rss_mb)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9]*' "$out/$t.log" | tail -n 1)
  found=$(find "$out/$t" -maxdepth 1 -type f -newer "$out/$t/.started" \( -name 'crash-*' \
          -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | sort)
  if [ "$rc" -ne 0 ] || [ -n "$found" ]; then
    ok=0
    echo "fuzz_$t: FOUND SOMETHING after ${runs:-?} runs in ${took} s, ${cov:-no coverage line}" \
         "(exit $rc, log $out/$t.log) ${found//$'\n'/ }"
  else
    echo "fuzz_$t: ok, ${runs:-?} runs in ${took} s, ${cov:-no coverage line}," \
         "slowest input ${slowest:-?} s, peak RSS ${rss:-?} MB"
  fi
  if [ "$ok" -eq 1 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
