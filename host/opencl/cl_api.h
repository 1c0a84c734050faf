/*
 * cl_api.h — the OpenCL entry points nabla uses, loaded at run time.
 *
 * nabla never links against an OpenCL library: the one binary must start
 * and train on machines with no loader installed. nb_cl_load() opens
 * libOpenCL.so.1 (or the one nb_set_opencl_library names) with dlopen and fills a table
 * of function pointers; everything else calls through `nb_cl.X`.
 * Symbols already present in the process (an LD_PRELOAD tool such as
 * Oclgrind) take precedence over the loader's own.
 */
#ifndef NB_CL_API_H
#define NB_CL_API_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include "nabla.h"

#define NB_CL_FUNCS(X)                                                                             \
    X(clGetPlatformIDs)                                                                            \
    X(clGetPlatformInfo)                                                                           \
    X(clGetDeviceIDs)                                                                              \
    X(clGetDeviceInfo)                                                                             \
    X(clCreateContext)                                                                             \
    X(clReleaseContext)                                                                            \
    X(clCreateCommandQueue)                                                                        \
    X(clReleaseCommandQueue)                                                                       \
    X(clCreateBuffer)                                                                              \
    X(clReleaseMemObject)                                                                          \
    X(clEnqueueWriteBuffer)                                                                        \
    X(clEnqueueReadBuffer)                                                                         \
    X(clEnqueueCopyBuffer)                                                                         \
    X(clCreateProgramWithSource)                                                                   \
    X(clCreateProgramWithBinary)                                                                   \
    X(clBuildProgram)                                                                              \
    X(clGetProgramBuildInfo)                                                                       \
    X(clGetProgramInfo)                                                                            \
    X(clReleaseProgram)                                                                            \
    X(clCreateKernel)                                                                              \
    X(clReleaseKernel)                                                                             \
    X(clSetKernelArg)                                                                              \
    X(clGetKernelWorkGroupInfo)                                                                    \
    X(clEnqueueNDRangeKernel)                                                                      \
    X(clFinish)                                                                                    \
    X(clFlush)                                                                                     \
    X(clWaitForEvents)                                                                             \
    X(clGetEventProfilingInfo)                                                                     \
    X(clRetainEvent)                                                                               \
    X(clReleaseEvent)

typedef struct nb_cl_api {
#define NB_CL_FIELD(name) __typeof__(&name) name;
    NB_CL_FUNCS(NB_CL_FIELD)
#undef NB_CL_FIELD
} nb_cl_api;

/* The loaded table; valid after nb_cl_load() returned NB_OK. */
extern nb_cl_api nb_cl;

/* Load the OpenCL library once per process (later calls return the first
 * result). NB_ERR_UNSUPPORTED with "no OpenCL loader: …" if it is missing. */
nb_status nb_cl_load(void);

/* "CL_OUT_OF_RESOURCES" etc. for an OpenCL error code. */
const char *nb_cl_err_name(cl_int err);

/*
 * Check an OpenCL call: on failure record "<call text>: <CODE> (file:line)"
 * and return NB_ERR_BACKEND from the enclosing function. The call text is
 * the source of the call, so the message names exactly what failed.
 */
/* The same for a status already in err, from the call named: "<name>: <CODE>". */
#define CL_CHECK(name, err)                                                                        \
    do {                                                                                           \
        cl_int cl_check_err_ = (err);                                                              \
        if (cl_check_err_ != CL_SUCCESS)                                                           \
            return NB_FAIL(NB_ERR_BACKEND, "%s: %s", (name), nb_cl_err_name(cl_check_err_));       \
    } while (0)

#define CL_TRY(call)                                                                               \
    do {                                                                                           \
        cl_int cl_try_err_ = (call);                                                               \
        if (cl_try_err_ != CL_SUCCESS)                                                             \
            return NB_FAIL(NB_ERR_BACKEND, "%s: %s", #call, nb_cl_err_name(cl_try_err_));          \
    } while (0)

#endif
