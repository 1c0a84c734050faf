/*
 * cl_api.c — loading OpenCL at run time, and error-code names.
 */
#define _GNU_SOURCE /* RTLD_DEFAULT: let an LD_PRELOADed runtime win */
#include "opencl/cl_api.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_config.h"
#include "status.h"

nb_cl_api nb_cl;

static int load_state;          /* 0 not tried, 1 loaded, -1 failed */
static char load_error[512];    /* the reason, kept for later calls */
static char lib_name[NB_OPT_PATH_MAX]; /* nb_set_opencl_library's; "": the default */

nb_status nb_set_opencl_library(const char *path)
{
    if (!path) path = "";
    size_t len = strlen(path);
    if (len >= sizeof lib_name)
        return NB_FAIL(NB_ERR_ARG, "nb_set_opencl_library: the path is %zu bytes long, at most %zu",
                       len, sizeof lib_name - 1);
    if (load_state == 1 && strcmp(path, lib_name) != 0)
        return NB_FAIL(NB_ERR_UNSUPPORTED, "nb_set_opencl_library: '%s': the OpenCL loader '%s' is "
                       "already in use, and stays loaded", path,
                       lib_name[0] ? lib_name : "libOpenCL.so.1");
    if (load_state == -1 && strcmp(path, lib_name) != 0) load_state = 0; /* try the new one */
    memcpy(lib_name, path, len + 1);
    return NB_OK;
}

nb_status nb_cl_load(void)
{
    if (load_state == 1) return NB_OK;
    if (load_state == -1) return NB_FAIL(NB_ERR_UNSUPPORTED, "%s", load_error);
    const char *lib = lib_name[0] ? lib_name : "libOpenCL.so.1";
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        snprintf(load_error, sizeof load_error, "no OpenCL loader (%.400s)", why ? why : lib);
        load_state = -1;
        return NB_FAIL(NB_ERR_UNSUPPORTED, "%s", load_error);
    }
#define NB_CL_RESOLVE(name)                                                                        \
    {                                                                                              \
        void *p = dlsym(RTLD_DEFAULT, #name);                                                      \
        if (!p) p = dlsym(h, #name);                                                               \
        if (!p) {                                                                                  \
            snprintf(load_error, sizeof load_error, "OpenCL loader %.400s lacks %s", lib, #name);  \
            load_state = -1;                                                                       \
            dlclose(h);                                                                            \
            return NB_FAIL(NB_ERR_UNSUPPORTED, "%s", load_error);                                  \
        }                                                                                          \
        memcpy(&nb_cl.name, &p, sizeof p);                                                         \
    }
    NB_CL_FUNCS(NB_CL_RESOLVE)
#undef NB_CL_RESOLVE
    load_state = 1; /* the library stays loaded for the life of the process */
    return NB_OK;
}

const char *nb_cl_err_name(cl_int err)
{
    switch (err) {
#define E(x) case x: return #x;
        E(CL_SUCCESS) E(CL_DEVICE_NOT_FOUND) E(CL_DEVICE_NOT_AVAILABLE)
        E(CL_COMPILER_NOT_AVAILABLE) E(CL_MEM_OBJECT_ALLOCATION_FAILURE) E(CL_OUT_OF_RESOURCES)
        E(CL_OUT_OF_HOST_MEMORY) E(CL_PROFILING_INFO_NOT_AVAILABLE) E(CL_MEM_COPY_OVERLAP)
        E(CL_BUILD_PROGRAM_FAILURE) E(CL_MAP_FAILURE) E(CL_MISALIGNED_SUB_BUFFER_OFFSET)
        E(CL_INVALID_VALUE) E(CL_INVALID_DEVICE_TYPE) E(CL_INVALID_PLATFORM) E(CL_INVALID_DEVICE)
        E(CL_INVALID_CONTEXT) E(CL_INVALID_QUEUE_PROPERTIES) E(CL_INVALID_COMMAND_QUEUE)
        E(CL_INVALID_HOST_PTR) E(CL_INVALID_MEM_OBJECT) E(CL_INVALID_BINARY)
        E(CL_INVALID_BUILD_OPTIONS) E(CL_INVALID_PROGRAM) E(CL_INVALID_PROGRAM_EXECUTABLE)
        E(CL_INVALID_KERNEL_NAME) E(CL_INVALID_KERNEL_DEFINITION) E(CL_INVALID_KERNEL)
        E(CL_INVALID_ARG_INDEX) E(CL_INVALID_ARG_VALUE) E(CL_INVALID_ARG_SIZE)
        E(CL_INVALID_KERNEL_ARGS) E(CL_INVALID_WORK_DIMENSION) E(CL_INVALID_WORK_GROUP_SIZE)
        E(CL_INVALID_WORK_ITEM_SIZE) E(CL_INVALID_GLOBAL_OFFSET) E(CL_INVALID_EVENT_WAIT_LIST)
        E(CL_INVALID_EVENT) E(CL_INVALID_OPERATION) E(CL_INVALID_BUFFER_SIZE)
        E(CL_INVALID_GLOBAL_WORK_SIZE) E(CL_INVALID_PROPERTY)
#undef E
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR"; /* the ICD loader: no platform installed */
    }
    return "CL_UNKNOWN_ERROR";
}
