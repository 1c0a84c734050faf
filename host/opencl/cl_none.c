/*
 * cl_none.c — stand-ins for a build without OpenCL (NABLA_OPENCL=OFF):
 * the library needs no OpenCL headers, and asking for an OpenCL device
 * says why there is none (a malformed "opencl:P.D" is still bad input).
 */
#include <string.h>

#include "backend.h"
#include "opencl/cl_spec.h"
#include "status.h"
#include "tune.h"

nb_status nb_cl_backend_create(const char *spec, const nb_be_config *cfg, nb_be_profile *prof,
                               nb_backend_facts *facts, const nb_backend_ops **ops, void **ctx)
{
    (void)cfg;
    (void)prof;
    (void)facts;
    (void)ops;
    (void)ctx;
    int p, d;
    if (spec) NB_TRY(nb_cl_spec_parse(spec, &p, &d)); /* a malformed name is still bad input */
    return NB_FAIL(NB_ERR_UNSUPPORTED, "this nabla was built without OpenCL (NABLA_OPENCL=OFF)");
}

nb_status nb_cl_backend_create_tuned(const char *spec, const nb_be_config *cfg,
                                     const struct nb_cl_tunables *force, nb_be_profile *prof,
                                     nb_backend_facts *facts, const nb_backend_ops **ops,
                                     void **ctx)
{
    (void)force;
    return nb_cl_backend_create(spec, cfg, prof, facts, ops, ctx);
}

nb_status nb_set_opencl_library(const char *path)
{
    /* Checked as with OpenCL, so a caller's mistake shows in every build;
     * there is nothing to load. */
    if (path && strlen(path) >= NB_OPT_PATH_MAX)
        return NB_FAIL(NB_ERR_ARG, "nb_set_opencl_library: the path is %zu bytes long, at most %d",
                       strlen(path), NB_OPT_PATH_MAX - 1);
    return NB_OK;
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
