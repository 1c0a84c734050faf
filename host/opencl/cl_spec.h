/*
 * cl_spec.h — reading the "P.D" of "opencl:P.D", shared by the OpenCL
 * backend and the stand-in of a build without OpenCL, so that a malformed
 * name is bad input (NB_ERR_ARG) on every build, before any device is
 * looked for.
 */
#ifndef NB_CL_SPEC_H
#define NB_CL_SPEC_H

#include "status.h"

/* One decimal index: digits only, at most 9 of them (no sign, space or
 * overflow); returns the end, or NULL. */
static inline const char *nb_cl_spec_index(const char *s, int *out)
{
    int v = 0, n = 0;
    for (; *s >= '0' && *s <= '9'; s++, n++) {
        if (n == 9) return NULL;
        v = 10 * v + (*s - '0');
    }
    *out = v;
    return n ? s : NULL;
}

/* "P.D" into *p and *d; NB_ERR_ARG naming the device when malformed. */
static inline nb_status nb_cl_spec_parse(const char *spec, int *p, int *d)
{
    const char *e = nb_cl_spec_index(spec, p);
    if (!e || *e != '.' || !(e = nb_cl_spec_index(e + 1, d)) || *e != '\0')
        return NB_FAIL(NB_ERR_ARG, "nb_backend_create: 'opencl:%s' is not opencl:P.D (see "
                                   "nabla devices)", spec);
    return NB_OK;
}

#endif
