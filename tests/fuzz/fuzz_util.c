/*
 * fuzz_util.c — the memory meter, the in-memory files and the failure
 * report behind fuzz_util.h.
 *
 * The meter rides on the sanitizer allocator's malloc and free hooks,
 * which see every allocation in the process (jansson's and zlib's too),
 * and counts only while the thread that called fz_mem_begin is inside a
 * load. The hooks run inside the allocator, so they neither allocate nor
 * take locks; the counters are per thread.
 */
#define _GNU_SOURCE /* memfd_create */
#include "fuzz_util.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sanitizer/allocator_interface.h>
#include <sanitizer/common_interface_defs.h>

/* ------------------------------------------------------------- failing */

char fz_not_null;

_Noreturn void fz_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("nabla fuzz: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

void fz_status(const char *call, nb_status st, unsigned allowed)
{
    if ((unsigned)st >= 32 || !(allowed & FZ_ALLOW(st)))
        fz_fail("%s returned %s, which it does not promise here (%s)", call, nb_status_str(st),
                nb_last_error());
    if (st != NB_OK && !*nb_last_error())
        fz_fail("%s returned %s without a message", call, nb_status_str(st));
}

/* --------------------------------------------------------------- meter */

static _Thread_local int meter_on;
static _Thread_local size_t meter_live, meter_peak, meter_limit;
static _Thread_local const char *meter_what;

static void on_malloc(const volatile void *p, size_t n)
{
    if (!meter_on || !p) return;
    meter_live += n;
    if (meter_live > meter_peak) meter_peak = meter_live;
    if (meter_live > meter_limit) {
        meter_on = 0;
        fprintf(stderr, "nabla fuzz: %s holds %zu bytes after allocating %zu, over its bound "
                "of %zu; allocated at:\n", meter_what, meter_live, n, meter_limit);
        __sanitizer_print_stack_trace();
        abort();
    }
}

/* A block allocated before metering began also lowers the count; the
 * loaders free nothing of their caller's, so that never hides a peak. */
static void on_free(const volatile void *p)
{
    if (!meter_on || !p || !__sanitizer_get_ownership(p)) return;
    size_t n = __sanitizer_get_allocated_size(p);
    meter_live = n < meter_live ? meter_live - n : 0;
}

void fz_mem_begin(const char *what, size_t limit)
{
    static int hooked;
    if (!hooked && !(hooked = __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free)))
        fz_fail("cannot install the allocator hooks (is the target built with ASan?)");
    meter_what = what;
    meter_limit = limit;
    meter_live = meter_peak = 0;
    meter_on = 1;
}

size_t fz_mem_end(void)
{
    meter_on = 0;
    return meter_peak;
}

/* --------------------------------------------------------------- files */

static int slot_fd[FZ_SLOTS] = {-1, -1};
static char slot_path[FZ_SLOTS][96];
static char tmp_dir[80];

static void remove_tmp(void)
{
    for (int i = 0; i < FZ_SLOTS; i++)
        if (slot_fd[i] >= 0 && tmp_dir[0]) unlink(slot_path[i]);
    if (tmp_dir[0]) rmdir(tmp_dir);
}

/* A memory file reached through /proc; failing that (no memfd_create, no
 * /proc), a regular file in a directory made once per process. */
static void open_slot(int i)
{
    int fd = memfd_create("nabla-fuzz", MFD_CLOEXEC);
    if (fd >= 0) {
        snprintf(slot_path[i], sizeof slot_path[i], "/proc/self/fd/%d", fd);
        if (access(slot_path[i], R_OK) == 0) {
            slot_fd[i] = fd;
            return;
        }
        close(fd);
    }
    if (!tmp_dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(tmp_dir, sizeof tmp_dir, "%s/nabla-fuzz-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(tmp_dir)) fz_fail("mkdtemp %s failed", tmp_dir);
        atexit(remove_tmp);
    }
    snprintf(slot_path[i], sizeof slot_path[i], "%s/slot%d", tmp_dir, i);
    slot_fd[i] = open(slot_path[i], O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (slot_fd[i] < 0) fz_fail("cannot create %s", slot_path[i]);
}

const char *fz_file(int slot, const void *bytes, size_t n)
{
    if (slot < 0 || slot >= FZ_SLOTS) fz_fail("fz_file: no slot %d", slot);
    if (slot_fd[slot] < 0) open_slot(slot);
    int fd = slot_fd[slot];
    if (ftruncate(fd, 0) != 0) fz_fail("ftruncate %s failed", slot_path[slot]);
    const unsigned char *p = bytes;
    for (size_t done = 0; done < n;) {
        ssize_t k = pwrite(fd, p + done, n - done, (off_t)done);
        if (k <= 0) fz_fail("writing %s failed", slot_path[slot]);
        done += (size_t)k;
    }
    return slot_path[slot];
}
