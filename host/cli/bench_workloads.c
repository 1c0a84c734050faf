/*
 * bench_workloads.c — the table of benchmark workloads (see
 * bench_workloads.h and bench/README.md, which explains each choice).
 */
#include "cli/bench_workloads.h"

const nb_bench_workload nb_bench_workloads[NB_BENCH_N_WORKLOADS] = {
    {"W1", "mnist", {784, 512, 512, 10}, 4, 60000, 256, 0, 1},
    {"W2", "wide", {1024, 2048, 2048, 2048, 10}, 5, 16384, 512, 0, 1},
    {"W3", "fullbatch", {64, 256, 10}, 3, 10000, 0, 200, 0},
    {"W4", "tiny", {2, 8, 1}, 3, 4, 4, 10000, 0},
};
