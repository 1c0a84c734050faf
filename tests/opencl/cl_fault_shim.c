/*
 * cl_fault_shim.c — an OpenCL library for tests that makes the n-th call
 * fail.
 *
 * nabla opens it in place of the loader ($NABLA_OPENCL_LIBRARY). Every
 * entry point nabla uses forwards to the real loader (libOpenCL.so.1, or
 * $NABLA_CL_FAULT_REAL) and counts the call. Call number $NABLA_CL_FAULT_AT
 * (1-based; unset or 0: none) fails instead, with CL_OUT_OF_RESOURCES (the
 * code a driver gives when it runs out of something) or the code named by
 * $NABLA_CL_FAULT_CODE: CL_OUT_OF_RESOURCES,
 * CL_MEM_OBJECT_ALLOCATION_FAILURE, CL_INVALID_COMMAND_QUEUE or
 * CL_DEVICE_NOT_AVAILABLE (another name fails every call, so that a typo in
 * a test cannot pass unseen). Functions that return
 * an object return NULL and set *errcode_ret. Releases still release, then
 * report the error, so a fault never leaks the driver's object by itself.
 *
 * The shim writes "calls N" and, when it failed one, "failed N name" to
 * the file $NABLA_CL_FAULT_LOG at exit, for the test to read.
 */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *real_lib;
static unsigned long calls, fail_at;
static cl_int fail_code = CL_OUT_OF_RESOURCES;
static const char *failed_name;
static int ready;

static void init(void)
{
    if (ready) return;
    ready = 1;
    const char *at = getenv("NABLA_CL_FAULT_AT");
    fail_at = at ? strtoul(at, NULL, 10) : 0;
    static const struct { const char *name; cl_int code; } codes[] = {
        {"CL_OUT_OF_RESOURCES", CL_OUT_OF_RESOURCES},
        {"CL_MEM_OBJECT_ALLOCATION_FAILURE", CL_MEM_OBJECT_ALLOCATION_FAILURE},
        {"CL_INVALID_COMMAND_QUEUE", CL_INVALID_COMMAND_QUEUE},
        {"CL_DEVICE_NOT_AVAILABLE", CL_DEVICE_NOT_AVAILABLE},
    };
    const char *code = getenv("NABLA_CL_FAULT_CODE");
    if (code && *code) {
        fail_at = 1; /* unknown: fail from the first call on */
        for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
            if (strcmp(code, codes[i].name) == 0)
                fail_code = codes[i].code, fail_at = at ? strtoul(at, NULL, 10) : 0;
    }
    const char *real = getenv("NABLA_CL_FAULT_REAL");
    real_lib = dlopen(real && *real ? real : "libOpenCL.so.1", RTLD_NOW | RTLD_LOCAL);
}

/* The real entry point, or NULL when the loader or symbol is missing
 * (then the call fails as if the driver had, which the test reports). */
static void *real_fn(const char *name)
{
    init();
    return real_lib ? dlsym(real_lib, name) : NULL;
}

/* Count one call; nonzero when this one must fail. */
static int inject(const char *name)
{
    init();
    if (++calls != fail_at) return 0;
    failed_name = name;
    return 1;
}

__attribute__((destructor)) static void report(void)
{
    const char *path = getenv("NABLA_CL_FAULT_LOG");
    FILE *f = path && *path ? fopen(path, "w") : NULL;
    if (!f) return;
    fprintf(f, "calls %lu\n", calls);
    if (failed_name) fprintf(f, "failed %lu %s\n", fail_at, failed_name);
    fclose(f);
}

#define REAL(name) ((__typeof__(&name))real_fn(#name))

/* An entry point that returns a cl_int status. */
#define STATUS_FN(name, params, args)                                                              \
    CL_API_ENTRY cl_int CL_API_CALL name params                                                    \
    {                                                                                              \
        __typeof__(&name) fn = REAL(name);                                                         \
        if (inject(#name) || !fn) return fail_code;                                                \
        return fn args;                                                                            \
    }

/* A release: always done, and the status replaced when injected. */
#define RELEASE_FN(name, type)                                                                     \
    CL_API_ENTRY cl_int CL_API_CALL name(type obj)                                                 \
    {                                                                                              \
        __typeof__(&name) fn = REAL(name);                                                         \
        cl_int err = fn ? fn(obj) : CL_OUT_OF_RESOURCES;                                           \
        return inject(#name) ? fail_code : err;                                                    \
    }

/* An entry point that returns an object and reports through errcode_ret. */
#define CREATE_FN(type, name, params, args)                                                        \
    CL_API_ENTRY type CL_API_CALL name params                                                      \
    {                                                                                              \
        __typeof__(&name) fn = REAL(name);                                                         \
        if (inject(#name) || !fn) {                                                                \
            if (errcode_ret) *errcode_ret = fail_code;                                             \
            return NULL;                                                                           \
        }                                                                                          \
        return fn args;                                                                            \
    }

STATUS_FN(clGetPlatformIDs, (cl_uint n, cl_platform_id *p, cl_uint *np), (n, p, np))
STATUS_FN(clGetPlatformInfo,
          (cl_platform_id p, cl_platform_info i, size_t n, void *v, size_t *r), (p, i, n, v, r))
STATUS_FN(clGetDeviceIDs,
          (cl_platform_id p, cl_device_type t, cl_uint n, cl_device_id *d, cl_uint *nd),
          (p, t, n, d, nd))
STATUS_FN(clGetDeviceInfo, (cl_device_id d, cl_device_info i, size_t n, void *v, size_t *r),
          (d, i, n, v, r))
CREATE_FN(cl_context, clCreateContext,
          (const cl_context_properties *props, cl_uint n, const cl_device_id *d,
           void(CL_CALLBACK *notify)(const char *, const void *, size_t, void *), void *user,
           cl_int *errcode_ret),
          (props, n, d, notify, user, errcode_ret))
RELEASE_FN(clReleaseContext, cl_context)
CREATE_FN(cl_command_queue, clCreateCommandQueue,
          (cl_context c, cl_device_id d, cl_command_queue_properties p, cl_int *errcode_ret),
          (c, d, p, errcode_ret))
RELEASE_FN(clReleaseCommandQueue, cl_command_queue)
CREATE_FN(cl_mem, clCreateBuffer,
          (cl_context c, cl_mem_flags f, size_t size, void *host, cl_int *errcode_ret),
          (c, f, size, host, errcode_ret))
RELEASE_FN(clReleaseMemObject, cl_mem)
STATUS_FN(clEnqueueWriteBuffer,
          (cl_command_queue q, cl_mem m, cl_bool block, size_t off, size_t size, const void *src,
           cl_uint nw, const cl_event *w, cl_event *ev),
          (q, m, block, off, size, src, nw, w, ev))
STATUS_FN(clEnqueueReadBuffer,
          (cl_command_queue q, cl_mem m, cl_bool block, size_t off, size_t size, void *dst,
           cl_uint nw, const cl_event *w, cl_event *ev),
          (q, m, block, off, size, dst, nw, w, ev))
STATUS_FN(clEnqueueCopyBuffer,
          (cl_command_queue q, cl_mem s, cl_mem d, size_t so, size_t dof, size_t size, cl_uint nw,
           const cl_event *w, cl_event *ev),
          (q, s, d, so, dof, size, nw, w, ev))
CREATE_FN(cl_program, clCreateProgramWithSource,
          (cl_context c, cl_uint n, const char **src, const size_t *len, cl_int *errcode_ret),
          (c, n, src, len, errcode_ret))
CREATE_FN(cl_program, clCreateProgramWithBinary,
          (cl_context c, cl_uint n, const cl_device_id *d, const size_t *len,
           const unsigned char **bin, cl_int *status, cl_int *errcode_ret),
          (c, n, d, len, bin, status, errcode_ret))
STATUS_FN(clBuildProgram,
          (cl_program p, cl_uint n, const cl_device_id *d, const char *opt,
           void(CL_CALLBACK *notify)(cl_program, void *), void *user),
          (p, n, d, opt, notify, user))
STATUS_FN(clGetProgramBuildInfo,
          (cl_program p, cl_device_id d, cl_program_build_info i, size_t n, void *v, size_t *r),
          (p, d, i, n, v, r))
STATUS_FN(clGetProgramInfo, (cl_program p, cl_program_info i, size_t n, void *v, size_t *r),
          (p, i, n, v, r))
RELEASE_FN(clReleaseProgram, cl_program)
CREATE_FN(cl_kernel, clCreateKernel, (cl_program p, const char *name, cl_int *errcode_ret),
          (p, name, errcode_ret))
RELEASE_FN(clReleaseKernel, cl_kernel)
STATUS_FN(clSetKernelArg, (cl_kernel k, cl_uint i, size_t size, const void *v), (k, i, size, v))
STATUS_FN(clGetKernelWorkGroupInfo,
          (cl_kernel k, cl_device_id d, cl_kernel_work_group_info i, size_t n, void *v, size_t *r),
          (k, d, i, n, v, r))
STATUS_FN(clEnqueueNDRangeKernel,
          (cl_command_queue q, cl_kernel k, cl_uint dims, const size_t *off, const size_t *g,
           const size_t *l, cl_uint nw, const cl_event *w, cl_event *ev),
          (q, k, dims, off, g, l, nw, w, ev))
STATUS_FN(clFinish, (cl_command_queue q), (q))
STATUS_FN(clFlush, (cl_command_queue q), (q))
STATUS_FN(clWaitForEvents, (cl_uint n, const cl_event *ev), (n, ev))
STATUS_FN(clGetEventProfilingInfo,
          (cl_event e, cl_profiling_info i, size_t n, void *v, size_t *r), (e, i, n, v, r))
STATUS_FN(clRetainEvent, (cl_event e), (e))
RELEASE_FN(clReleaseEvent, cl_event)
