/*
 * cl_none.c — stand-ins for a build without OpenCL (NABLA_OPENCL=OFF):
 * the library needs no OpenCL headers, and asking for an OpenCL device
 * says why there is none (a malformed "opencl:P.D" is still bad input).
 */
#include "backend.h"
#include "opencl/cl_spec.h"
#include "status.h"
#include "tune.h"

nb_status nb_cl_backend_create(const char *spec, nb_be_profile *prof, nb_backend_facts *facts,
                               const nb_backend_ops **ops, void **ctx)
{
    (void)prof;
    (void)facts;
    (void)ops;
    (void)ctx;
    int p, d;
    if (spec) NB_TRY(nb_cl_spec_parse(spec, &p, &d)); /* a malformed name is still bad input */
    return NB_FAIL(NB_ERR_UNSUPPORTED, "this nabla was built without OpenCL (NABLA_OPENCL=OFF)");
}

nb_status nb_cl_backend_create_tuned(const char *spec, const struct nb_cl_tunables *force,
                                     nb_be_profile *prof, nb_backend_facts *facts,
                                     const nb_backend_ops **ops, void **ctx)
{
    (void)force;
    return nb_cl_backend_create(spec, prof, facts, ops, ctx);
}

nb_status nb_opencl_devices(nb_device_info *out, int cap, int *count, int *auto_pick)
{
    (void)out;
    (void)cap;
    if (count) *count = 0;
    if (auto_pick) *auto_pick = -1;
    return NB_FAIL(NB_ERR_UNSUPPORTED, "this nabla was built without OpenCL (NABLA_OPENCL=OFF)");
}

nb_status nb_tune_run(const nb_tune_request *req, nb_tune_report *rep)
{
    (void)req;
    (void)rep;
    return NB_FAIL(NB_ERR_UNSUPPORTED, "this nabla was built without OpenCL (NABLA_OPENCL=OFF)");
}
