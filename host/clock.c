/*
 * clock.c — a monotonic clock for run times and the cpu backend's profile.
 */
#include "clock.h"

#include <time.h>

double nb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
