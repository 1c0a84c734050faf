/*
 * cl_none.c — stand-ins for a build without OpenCL (NABLA_OPENCL=OFF):
 * the library needs no OpenCL headers, and asking for an OpenCL device
 * says why there is none.
 */
#include "backend.h"
#include "status.h"

nb_status nb_cl_backend_create(const char *spec, nb_backend **out)
{
    (void)spec;
    *out = NULL;
    return NB_FAIL(NB_ERR_UNSUPPORTED, "this nabla was built without OpenCL (NABLA_OPENCL=OFF)");
}

nb_status nb_opencl_devices(nb_device_info *out, int cap, int *count, int *auto_pick)
{
    (void)out;
    (void)cap;
    if (count) *count = 0;
    if (auto_pick) *auto_pick = -1;
    return NB_FAIL(NB_ERR_UNSUPPORTED, "this nabla was built without OpenCL (NABLA_OPENCL=OFF)");
}
