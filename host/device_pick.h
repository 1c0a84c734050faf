/*
 * device_pick.h — which OpenCL device "auto" and "opencl" use (private).
 *
 * The choice reads only a list of device descriptions, never OpenCL
 * itself, so every build makes it the same way and a test can make it on
 * a list of made-up devices.
 */
#ifndef NB_DEVICE_PICK_H
#define NB_DEVICE_PICK_H

#include <stdbool.h>
#include <stddef.h>

#include "nabla.h"

/*
 * What "auto" uses among devs[0 … n): the index of the first GPU in
 * platform order, else of the first accelerator; -1 (the pure-C cpu
 * backend) when there is neither. cpu_as_gpu (the option
 * auto_any_device) ranks CPU devices with the GPUs. One line saying why
 * goes into why (why_size bytes, NULL allowed), without a trailing period.
 */
int nb_device_choose(const nb_device_info *devs, int n, bool cpu_as_gpu, char *why,
                     size_t why_size);

/* What "opencl" (no P.D) uses: the device "auto" would, else the first
 * device of any type; -1 only when n is 0. */
int nb_device_choose_named(const nb_device_info *devs, int n);

#endif
