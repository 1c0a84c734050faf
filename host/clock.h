/*
 * clock.h — wall-clock seconds on a monotonic clock (private).
 */
#ifndef NB_CLOCK_H
#define NB_CLOCK_H

double nb_now(void);

#endif
