#!/usr/bin/env bash
# mpi_cli_test.sh — `mpirun -np 2 nabla train` end to end, as the README
# runs it: one header and one final line from the job (rank 0 prints), the
# checkpoint written, the TCP path, checkpoints that cross between 2 ranks
# and one process both ways, a mismatch between ranks said once with exit
# status 2, another command refused across ranks, and a failure on one
# rank during training ending the whole job.
# Usage: mpi_cli_test.sh NABLA MPIEXEC WORK_DIR
set -u
nabla=$1 mpiexec=$2 work=$3
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
# Two ranks on whatever cores there are; the network path where asked.
mpi() { "$mpiexec" --oversubscribe "$@"; }
fail=0
bad() { echo "FAIL: $*"; fail=1; }
# The output of the last run, then its exit status.
run() { "$@" >out.txt 2>err.txt; rc=$?; }
count() { grep -c -- "$1" "$2"; }

# (a) two ranks train the bundled digits and save once.
run mpi -np 2 "$nabla" train --epochs 3 --save two.st --log two.jsonl
[ "$rc" -eq 0 ] || bad "(a) exit $rc: $(cat err.txt)"
[ "$(count '^nabla: bundled digits, .*, 2 ranks$' out.txt)" -eq 1 ] || bad "(a) not one header with 2 ranks"
[ "$(count '^device: ' out.txt)" -eq 1 ] || bad "(a) not one device line"
[ "$(count '^final: loss ' out.txt)" -eq 1 ] || bad "(a) not one final line"
[ "$(count '^checkpoint: two.st$' out.txt)" -eq 1 ] || bad "(a) not one checkpoint line"
[ -s two.st ] || bad "(a) no checkpoint"
[ "$(grep -c '"epoch"' two.jsonl)" -eq 3 ] || bad "(a) the log has not one record per epoch"
ls | grep -v -E '^(two\.st|two\.jsonl|out\.txt|err\.txt)$' && bad "(a) stray files"
cp out.txt a.txt

# (b) the same over TCP (no shared memory between the ranks).
run mpi -np 2 --mca btl tcp,self "$nabla" train --epochs 3 --batch full
[ "$rc" -eq 0 ] || bad "(b) exit $rc: $(cat err.txt)"
[ "$(count '^final: loss ' out.txt)" -eq 1 ] || bad "(b) not one final line"

# (c) a checkpoint of 2 ranks goes on in one process, and one of one
# process on 2 ranks: both start where the checkpoint ends.
run "$nabla" train --resume two.st --epochs 5 --save one.st
[ "$rc" -eq 0 ] || bad "(c) one process from 2 ranks: exit $rc: $(cat err.txt)"
grep -q '^epoch     4 ' out.txt || bad "(c) one process did not go on from epoch 4"
grep -q 'after 5 epochs' out.txt || bad "(c) one process did not end at epoch 5"
run mpi -np 2 "$nabla" train --resume one.st --epochs 7 --save three.st
[ "$rc" -eq 0 ] || bad "(c) 2 ranks from one process: exit $rc: $(cat err.txt)"
grep -q '^epoch     6 ' out.txt || bad "(c) 2 ranks did not go on from epoch 6"
[ "$(count 'after 7 epochs' out.txt)" -eq 1 ] || bad "(c) 2 ranks did not end at epoch 7 once"
[ -s three.st ] || bad "(c) no checkpoint from the resumed 2-rank run"

# (d) ranks that disagree (another seed, MPMD): one message, exit 2, no training.
run mpi -np 1 "$nabla" train --epochs 2 --seed 1 : -np 1 "$nabla" train --epochs 2 --seed 2
[ "$rc" -eq 2 ] || bad "(d) exit $rc, not 2"
[ "$(count '^nabla train: ' err.txt)" -eq 1 ] || bad "(d) not one message: $(cat err.txt)"
grep -q '^nabla: ' out.txt && bad "(d) trained anyway"

# A setup error on one rank only: that rank says it, naming itself.
run mpi -np 1 "$nabla" train --epochs 2 : -np 1 "$nabla" train --epochs 2 --data missing.csv
[ "$rc" -eq 2 ] || bad "(d') exit $rc, not 2"
[ "$(count '^nabla train: rank 1 of 2: .*missing.csv' err.txt)" -eq 1 ] ||
    bad "(d') rank 1's error not said once: $(cat err.txt)"

# (e) any other command is refused across ranks, once.
run mpi -np 2 "$nabla" eval two.st
[ "$rc" -eq 2 ] || bad "(e) exit $rc, not 2"
[ "$(count "only 'nabla train' runs across ranks" err.txt)" -eq 1 ] || bad "(e) not one refusal: $(cat err.txt)"

# (f) a failure one rank alone sees during training: rank 0's checkpoint
# directory is moved away (in one step: removing it would race with the
# saves), so its next save fails; it says so, naming itself, and ends the
# whole job (the other rank would wait for it forever).
mkdir gone
mpi -np 2 "$nabla" train --epochs 1000000 --save gone/run.st >out.txt 2>err.txt &
job=$!
for _ in $(seq 100); do [ -s gone/run.st ] && break; sleep 0.1; done
mv gone moved
for _ in $(seq 300); do kill -0 $job 2>/dev/null || break; sleep 0.1; done
if kill -0 $job 2>/dev/null; then
    kill -9 $job; bad "(f) the job did not end within 30 s of rank 0's failure"
else
    wait $job; rc=$?
    [ "$rc" -ne 0 ] || bad "(f) exit 0 after a failed save"
    [ "$(count '^nabla train: rank 0 of 2: .*gone/run.st' err.txt)" -eq 1 ] ||
        bad "(f) rank 0's failure not said once: $(cat err.txt)"
    [ -s moved/run.st ] || bad "(f) the last checkpoint is gone"
fi

if [ $fail -ne 0 ]; then
    echo "--- last stdout"; cat out.txt; echo "--- last stderr"; cat err.txt
    exit 1
fi
echo "mpirun -np 2 nabla train: every check passed"; cat a.txt
