/*
 * cl_device.c — finding OpenCL platforms and devices, describing them, and
 * handing the list to the choice "auto" and "opencl" make (device_pick.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device_pick.h"
#include "opencl/cl_internal.h"
#include "opencl/cl_spec.h"
#include "status.h"

enum { MAX_PLATFORMS = 16, MAX_DEVICES = 64 };

/* A string property, truncated to fit buf (long version strings exist). */
static void str_info(cl_device_id d, cl_device_info what, char *buf, size_t n)
{
    size_t len = 0;
    char *tmp = NULL;
    snprintf(buf, n, "?");
    if (nb_cl.clGetDeviceInfo(d, what, 0, NULL, &len) != CL_SUCCESS || len == 0 || len > 65536 ||
        !(tmp = malloc(len + 1)))
        return;
    if (nb_cl.clGetDeviceInfo(d, what, len, tmp, NULL) == CL_SUCCESS) {
        tmp[len] = '\0';
        snprintf(buf, n, "%s", tmp);
    }
    free(tmp);
}

static nb_status describe(cl_platform_id p, cl_device_id d, int pi, int di, nb_cl_device *out)
{
    nb_device_info *i = &out->info;
    memset(out, 0, sizeof *out);
    out->platform = p;
    out->id = d;
    i->platform = pi;
    i->device = di;
    if (nb_cl.clGetPlatformInfo(p, CL_PLATFORM_NAME, sizeof i->platform_name, i->platform_name,
                                NULL) != CL_SUCCESS)
        snprintf(i->platform_name, sizeof i->platform_name, "?");
    i->platform_name[sizeof i->platform_name - 1] = '\0';
    str_info(d, CL_DEVICE_NAME, i->name, sizeof i->name);
    str_info(d, CL_DEVICE_VENDOR, i->vendor, sizeof i->vendor);
    str_info(d, CL_DRIVER_VERSION, i->driver, sizeof i->driver);
    str_info(d, CL_DEVICE_VERSION, i->version, sizeof i->version);
    cl_device_type type = 0;
    cl_uint cu = 0, mhz = 0, vec = 1;
    cl_ulong gmem = 0, lmem = 0, alloc = 0;
    size_t wg = 0, items[3] = {1, 1, 1};
    CL_TRY(nb_cl.clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof type, &type, NULL));
    CL_TRY(nb_cl.clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL));
    CL_TRY(nb_cl.clGetDeviceInfo(d, CL_DEVICE_MAX_CLOCK_FREQUENCY, sizeof mhz, &mhz, NULL));
    CL_TRY(nb_cl.clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof gmem, &gmem, NULL));
    CL_TRY(nb_cl.clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_SIZE, sizeof lmem, &lmem, NULL));
    CL_TRY(nb_cl.clGetDeviceInfo(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof alloc, &alloc, NULL));
    CL_TRY(nb_cl.clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL));
    CL_TRY(nb_cl.clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_ITEM_SIZES, sizeof items, items, NULL));
    CL_TRY(nb_cl.clGetDeviceInfo(d, CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT, sizeof vec, &vec, NULL));
    snprintf(i->type, sizeof i->type, "%s",
             (type & CL_DEVICE_TYPE_GPU)           ? "GPU"
             : (type & CL_DEVICE_TYPE_CPU)         ? "CPU"
             : (type & CL_DEVICE_TYPE_ACCELERATOR) ? "ACCEL"
                                                   : "OTHER");
    i->compute_units = cu;
    i->clock_mhz = mhz;
    i->global_mem = gmem;
    i->local_mem = lmem;
    i->max_alloc = alloc;
    i->max_work_group = wg;
    out->max_item[0] = items[0];
    out->max_item[1] = items[1];
    out->pref_vec_float = vec ? vec : 1;
    return NB_OK;
}

/* Every device of every platform, in platform then device order. */
static nb_status enumerate(nb_cl_device *devs, int cap, int *count)
{
    cl_platform_id plats[MAX_PLATFORMS];
    cl_uint np = 0;
    *count = 0;
    NB_TRY(nb_cl_load());
    cl_int err = nb_cl.clGetPlatformIDs(MAX_PLATFORMS, plats, &np);
    if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || (err == CL_SUCCESS && np == 0))
        return NB_FAIL(NB_ERR_UNSUPPORTED, "no OpenCL platform (the loader found no driver)");
    CL_CHECK("clGetPlatformIDs", err);
    for (cl_uint p = 0; p < np && p < MAX_PLATFORMS; p++) {
        cl_device_id ids[MAX_DEVICES];
        cl_uint nd = 0;
        err = nb_cl.clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, MAX_DEVICES, ids, &nd);
        if (err == CL_DEVICE_NOT_FOUND) continue;
        CL_CHECK("clGetDeviceIDs", err);
        for (cl_uint d = 0; d < nd && d < MAX_DEVICES; d++) {
            if (*count < cap) NB_TRY(describe(plats[p], ids[d], (int)p, (int)d, &devs[*count]));
            (*count)++;
        }
    }
    if (*count == 0) return NB_FAIL(NB_ERR_UNSUPPORTED, "no OpenCL device on any platform");
    return NB_OK;
}

/* The descriptions alone, for the choice in device_pick.c. */
static nb_device_info *infos_of(const nb_cl_device *devs, int n)
{
    nb_device_info *info = calloc(n > 0 ? (size_t)n : 1, sizeof *info);
    for (int i = 0; info && i < n; i++) info[i] = devs[i].info;
    return info;
}

/* "opencl": a GPU, else an accelerator, else the first device of any kind. */
static nb_status default_pick(const nb_cl_device *devs, int n, int *pick)
{
    nb_device_info *info = infos_of(devs, n);
    if (!info) return NB_NOMEM("nb_cl_pick_device", sizeof *info * (size_t)n);
    *pick = nb_device_choose_named(info, n);
    free(info);
    return NB_OK;
}

/* Why "P.D" names no device: the devices platform P has, or, when it has
 * none, every device there is. */
static nb_status no_such_device(const char *spec, int p, const nb_cl_device *devs, int n)
{
    char list[512] = "";
    size_t len = 0;
    int on_p = 0;
    for (int i = 0; i < n; i++) on_p += devs[i].info.platform == p;
    for (int i = 0, k = 0; i < n && len < sizeof list; i++) {
        if (on_p > 0 && devs[i].info.platform != p) continue;
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%d.%d", k++ ? ", " : "",
                                devs[i].info.platform, devs[i].info.device);
    }
    if (on_p > 0)
        return NB_FAIL(NB_ERR_BACKEND, "nb_backend_create: opencl:%s: platform %d has %d device%s "
                                       "(%s)", spec, p, on_p, on_p == 1 ? "" : "s", list);
    return NB_FAIL(NB_ERR_BACKEND, "nb_backend_create: opencl:%s: platform %d has no OpenCL "
                                   "device; there %s %d in all (%s)", spec, p,
                   n == 1 ? "is" : "are", n, list);
}

nb_status nb_cl_pick_device(const char *spec, const nb_be_config *cfg, nb_cl_device *out)
{
    int p = 0, d = 0;
    if (spec) NB_TRY(nb_cl_spec_parse(spec, &p, &d)); /* bad input whatever the machine has */
    nb_cl_device *devs = calloc(MAX_PLATFORMS * MAX_DEVICES, sizeof *devs);
    int n = 0, pick = -1;
    if (!devs) return NB_NOMEM("nb_cl_pick_device", sizeof *devs * MAX_PLATFORMS * MAX_DEVICES);
    nb_status st = enumerate(devs, MAX_PLATFORMS * MAX_DEVICES, &n);
    if (st == NB_OK && !spec) st = default_pick(devs, n, &pick);
    if (st == NB_OK && spec) {
        for (int i = 0; i < n; i++)
            if (devs[i].info.platform == p && devs[i].info.device == d) pick = i;
        /* Well formed but absent: this machine cannot give what was named. */
        if (pick < 0) st = no_such_device(spec, p, devs, n);
    }
    if (st == NB_OK) *out = devs[pick], out->cfg = cfg;
    free(devs);
    return st;
}

nb_status nb_opencl_devices(nb_device_info *out, int cap, int *count, int *auto_pick)
{
    if (!count || !auto_pick || (cap > 0 && !out))
        return NB_FAIL(NB_ERR_ARG, "nb_opencl_devices: NULL argument");
    *count = 0;
    *auto_pick = -1;
    nb_cl_device *devs = calloc(MAX_PLATFORMS * MAX_DEVICES, sizeof *devs);
    if (!devs) return NB_NOMEM("nb_opencl_devices", sizeof *devs * MAX_PLATFORMS * MAX_DEVICES);
    int n = 0;
    nb_status st = enumerate(devs, MAX_PLATFORMS * MAX_DEVICES, &n);
    nb_device_info *info = st == NB_OK ? infos_of(devs, n) : NULL;
    if (st == NB_OK && !info) st = NB_NOMEM("nb_opencl_devices", sizeof *info * (size_t)n);
    if (st == NB_OK) {
        *count = n;
        *auto_pick = nb_device_auto_choice(info, n, NULL, 0);
        for (int i = 0; i < n && i < cap; i++) out[i] = devs[i].info;
    }
    free(info);
    free(devs);
    return st;
}
