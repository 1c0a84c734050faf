/*
 * cl_backend.c — the OpenCL backend's life cycle, buffers, launches and
 * profile. The ops themselves are in cl_ops.c.
 *
 * One context and one in-order queue per backend: ops run in the order
 * they are enqueued, so no op waits on the host unless it reads a result.
 * With profiling on, every launch and transfer carries an event, resolved
 * into the backend's profile (nb_be_profile) when the queue is next
 * synchronised.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opencl/cl_internal.h"
#include "status.h"

/* ------------------------------------------------------------ profile */

/* Add the device time of every finished tracked event to the profile. */
static nb_status resolve_pending(nb_cl_ctx *c)
{
    nb_status st = NB_OK;
    for (int i = 0; i < c->n_pending; i++) {
        cl_ulong t0 = 0, t1 = 0;
        cl_event ev = c->pending[i].ev;
        if (st == NB_OK && nb_cl.clWaitForEvents(1, &ev) == CL_SUCCESS &&
            nb_cl.clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL) == CL_SUCCESS &&
            nb_cl.clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL) == CL_SUCCESS &&
            t1 >= t0)
            c->prof->op[c->pending[i].op].seconds += 1e-9 * (double)(t1 - t0);
        nb_cl.clReleaseEvent(ev);
    }
    c->n_pending = 0;
    return st;
}

nb_status nb_cl_track(nb_cl_ctx *c, cl_event ev)
{
    if (c->n_pending == NB_CL_PENDING_MAX) NB_TRY(resolve_pending(c));
    c->pending[c->n_pending].ev = ev;
    c->pending[c->n_pending].op = c->prof->cur_op;
    c->n_pending++;
    return NB_OK;
}

/* ------------------------------------------------------------- launch */

nb_status nb_cl_launch(nb_cl_ctx *c, nb_cl_kernel k, cl_uint dims, const size_t *global,
                       const size_t *local, size_t local_mem_bytes)
{
    size_t g[2], items = 1;
    for (cl_uint d = 0; d < dims; d++) {
        if (global[d] == 0) return NB_OK; /* nothing to do */
        if (local[d] > c->dev.max_item[d])
            return NB_FAIL(NB_ERR_BACKEND, "launch: local size %zu in dimension %u exceeds the "
                                           "device's %zu", local[d], d, c->dev.max_item[d]);
        g[d] = (global[d] + local[d] - 1) / local[d] * local[d]; /* kernels guard the tail */
        items *= local[d];
    }
    if (items > c->kwg[k])
        return NB_FAIL(NB_ERR_BACKEND, "launch: %zu work-items per group, but the kernel allows "
                                       "%zu (CL_KERNEL_WORK_GROUP_SIZE)", items, c->kwg[k]);
    if (local_mem_bytes > c->t.local_mem)
        return NB_FAIL(NB_ERR_BACKEND, "launch: %zu bytes of local memory, but the device has %zu",
                       local_mem_bytes, c->t.local_mem);
    cl_event ev = NULL;
    CL_TRY(nb_cl.clEnqueueNDRangeKernel(c->queue, c->k[k], dims, NULL, g, local, 0, NULL,
                                        c->prof->on ? &ev : NULL));
    c->prof->launches++; /* launches per step, for `nabla bench` and the tests */
    return ev ? nb_cl_track(c, ev) : NB_OK;
}

nb_status nb_cl_scratch(nb_cl_ctx *c, size_t n)
{
    if (n <= c->scratch_n) return NB_OK;
    /* Grow geometrically so a run settles after its first steps. */
    size_t want = n < 2 * c->scratch_n ? 2 * c->scratch_n : n;
    if (c->scratch) {
        CL_TRY(nb_cl.clFinish(c->queue)); /* queued kernels may still use it */
        nb_cl.clReleaseMemObject(c->scratch);
        c->scratch = NULL;
        c->scratch_n = 0;
    }
    cl_int err;
    c->scratch = nb_cl.clCreateBuffer(c->context, CL_MEM_READ_WRITE, want * sizeof(float), NULL, &err);
    CL_CHECK("clCreateBuffer (scratch)", err);
    c->scratch_n = want;
    return NB_OK;
}

/* ------------------------------------------------------------ buffers */

nb_status nb_cl_buf_alloc(void *ctx, nb_buf *b)
{
    nb_cl_ctx *c = ctx;
    size_t bytes = b->n * 4;
    if (bytes > c->dev.info.max_alloc)
        return NB_FAIL(NB_ERR_BACKEND, "clCreateBuffer: %zu bytes exceed the device's largest "
                                       "buffer (%llu bytes)", bytes,
                       (unsigned long long)c->dev.info.max_alloc);
    cl_int err;
    cl_mem m = nb_cl.clCreateBuffer(c->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
    CL_CHECK("clCreateBuffer", err);
    b->handle = m;
    return NB_OK;
}

nb_status nb_cl_buf_borrow(void *ctx, nb_buf *b, const void *host)
{
    nb_cl_ctx *c = ctx;
    /* Only a device that computes in host memory reads it in place; a GPU
     * would copy it over the bus at every use. */
    if (strcmp(c->dev.info.type, "CPU") != 0)
        return NB_FAIL(NB_ERR_UNSUPPORTED, "nb_be_borrow: %s is not a CPU device", c->dev.info.name);
    size_t bytes = b->n * 4;
    if (bytes > c->dev.info.max_alloc)
        return NB_FAIL(NB_ERR_UNSUPPORTED, "nb_be_borrow: %zu bytes exceed the device's largest "
                                           "buffer", bytes);
    cl_int err;
    cl_mem m = nb_cl.clCreateBuffer(c->context, CL_MEM_READ_ONLY | CL_MEM_USE_HOST_PTR, bytes,
                                    (void *)host, &err);
    CL_CHECK("clCreateBuffer (host memory)", err);
    b->handle = m;
    return NB_OK;
}

void nb_cl_buf_free(void *ctx, nb_buf *b)
{
    (void)ctx;
    nb_cl.clReleaseMemObject((cl_mem)b->handle);
    b->handle = NULL;
}

nb_status nb_cl_buf_write(void *ctx, nb_buf *dst, size_t off, const void *src, size_t n)
{
    nb_cl_ctx *c = ctx;
    cl_event ev = NULL;
    /* Blocking: the caller's memory may be reused as soon as we return. */
    CL_TRY(nb_cl.clEnqueueWriteBuffer(c->queue, (cl_mem)dst->handle, CL_TRUE, off * 4, n * 4, src,
                                      0, NULL, c->prof->on ? &ev : NULL));
    return ev ? nb_cl_track(c, ev) : NB_OK;
}

/* Wait for ev and drop our reference: the copy must not outlive its source. */
static void drain(cl_event ev)
{
    nb_cl.clWaitForEvents(1, &ev);
    nb_cl.clReleaseEvent(ev);
}

nb_status nb_cl_buf_write_async(void *ctx, nb_buf *dst, size_t off, const void *src, size_t n,
                                void **ticket)
{
    nb_cl_ctx *c = ctx;
    cl_event ev = NULL;
    CL_TRY(nb_cl.clEnqueueWriteBuffer(c->queue, (cl_mem)dst->handle, CL_FALSE, off * 4, n * 4, src,
                                      0, NULL, &ev));
    /* Start it now, so it runs while the host prepares the next batch. */
    cl_int err = nb_cl.clFlush(c->queue);
    if (err != CL_SUCCESS) {
        drain(ev);
        return NB_FAIL(NB_ERR_BACKEND, "clFlush: %s", nb_cl_err_name(err));
    }
    if (c->prof->on) {
        /* The profile holds a reference of its own until it reads the times. */
        err = nb_cl.clRetainEvent(ev);
        if (err != CL_SUCCESS) {
            drain(ev);
            return NB_FAIL(NB_ERR_BACKEND, "clRetainEvent: %s", nb_cl_err_name(err));
        }
        nb_status st = nb_cl_track(c, ev);
        if (st != NB_OK) {
            nb_cl.clReleaseEvent(ev); /* not tracked: drop both references */
            drain(ev);
            return st;
        }
    }
    *ticket = ev;
    return NB_OK;
}

nb_status nb_cl_write_wait(void *ctx, void *ticket)
{
    nb_cl_ctx *c = ctx;
    cl_event ev = ticket;
    /* Submit the kernels queued since, so the device works while we wait. */
    cl_int ferr = nb_cl.clFlush(c->queue);
    cl_int werr = nb_cl.clWaitForEvents(1, &ev);
    nb_cl.clReleaseEvent(ev);
    if (ferr != CL_SUCCESS) return NB_FAIL(NB_ERR_BACKEND, "clFlush: %s", nb_cl_err_name(ferr));
    if (werr != CL_SUCCESS)
        return NB_FAIL(NB_ERR_BACKEND, "clWaitForEvents (upload): %s", nb_cl_err_name(werr));
    return NB_OK;
}

nb_status nb_cl_buf_read(void *ctx, const nb_buf *src, size_t off, void *dst, size_t n)
{
    nb_cl_ctx *c = ctx;
    cl_event ev = NULL;
    CL_TRY(nb_cl.clEnqueueReadBuffer(c->queue, (cl_mem)src->handle, CL_TRUE, off * 4, n * 4, dst, 0,
                                     NULL, c->prof->on ? &ev : NULL));
    return ev ? nb_cl_track(c, ev) : NB_OK;
}

nb_status nb_cl_copy(void *ctx, size_t n, nb_view src, nb_view dst)
{
    nb_cl_ctx *c = ctx;
    cl_event ev = NULL;
    CL_TRY(nb_cl.clEnqueueCopyBuffer(c->queue, (cl_mem)src.buf->handle, (cl_mem)dst.buf->handle,
                                     src.off * 4, dst.off * 4, n * 4, 0, NULL,
                                     c->prof->on ? &ev : NULL));
    return ev ? nb_cl_track(c, ev) : NB_OK;
}

nb_status nb_cl_sync(void *ctx)
{
    nb_cl_ctx *c = ctx;
    CL_TRY(nb_cl.clFinish(c->queue));
    return resolve_pending(c);
}

/* ---------------------------------------------------------- lifecycle */

void nb_cl_destroy(void *ctx)
{
    nb_cl_ctx *c = ctx;
    if (!c) return;
    if (c->queue) nb_cl.clFinish(c->queue);
    resolve_pending(c);
    if (c->scratch) nb_cl.clReleaseMemObject(c->scratch);
    nb_cl_program_release(c);
    if (c->queue) nb_cl.clReleaseCommandQueue(c->queue);
    if (c->context) nb_cl.clReleaseContext(c->context);
    free(c);
}

nb_status nb_cl_backend_create(const char *spec, const nb_be_config *cfg, nb_be_profile *prof,
                               nb_backend_facts *facts, const nb_backend_ops **ops, void **ctx)
{
    return nb_cl_backend_create_tuned(spec, cfg, NULL, prof, facts, ops, ctx);
}

nb_status nb_cl_backend_create_tuned(const char *spec, const nb_be_config *cfg,
                                     const nb_cl_tunables *force, nb_be_profile *prof,
                                     nb_backend_facts *facts, const nb_backend_ops **ops,
                                     void **ctx)
{
    nb_status st;
    nb_cl_ctx *c = calloc(1, sizeof *c);
    if (!c) return NB_NOMEM("nb_cl_backend_create", sizeof *c);
    c->prof = prof;
    c->cfg = *cfg; /* the backend's own copy, for as long as it lives */
    NB_CHECK(nb_cl_pick_device(spec, &c->cfg, &c->dev));
    NB_CHECK(nb_cl_tune(&c->dev, &c->t));
    if (force) c->t = *force; /* the tuner's candidate, checked against the limits by it */
    cl_int err;
    c->context = nb_cl.clCreateContext(NULL, 1, &c->dev.id, NULL, NULL, &err);
    if (err != CL_SUCCESS) {
        st = NB_FAIL(NB_ERR_BACKEND, "clCreateContext: %s", nb_cl_err_name(err));
        goto fail;
    }
    /* Profiling stays on in the queue; events are only requested while
     * nb_backend_profile_enable is on, so it costs nothing otherwise. */
    c->queue = nb_cl.clCreateCommandQueue(c->context, c->dev.id, CL_QUEUE_PROFILING_ENABLE, &err);
    if (err != CL_SUCCESS) {
        st = NB_FAIL(NB_ERR_BACKEND, "clCreateCommandQueue: %s", nb_cl_err_name(err));
        goto fail;
    }
    NB_CHECK(nb_cl_build(c, facts));
    /* Keep data resident while it takes at most half the device memory;
     * the rest is for parameters, activations and the driver. The option
     * device_data_limit (bytes) sets it instead (a test forces streaming
     * with a small one). */
    facts->max_alloc = c->dev.info.max_alloc;
    facts->counts_launches = true;
    facts->data_budget = c->dev.info.global_mem / 2;
    if (c->cfg.data_limit > 0) facts->data_budget = c->cfg.data_limit;
    snprintf(facts->name, sizeof facts->name, "opencl:%d.%d (%s)", c->dev.info.platform,
             c->dev.info.device, c->dev.info.name);
    *ops = &nb_cl_ops_table;
    *ctx = c;
    return NB_OK;
fail:
    nb_cl_destroy(c);
    return st;
}
