/*
 * fuzz_util.h — what nabla's fuzz targets share: a meter that turns a
 * loader's memory bound into a finding, files in memory for the loaders
 * that take a path, and the way an oracle reports a broken promise.
 *
 * A target is one libFuzzer entry point per file; this is not a test
 * framework. Every check here aborts, which libFuzzer records as a crash
 * with the input that caused it.
 */
#ifndef NB_FUZZ_UTIL_H
#define NB_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "nabla.h"

/* The entry point each target defines (libFuzzer calls it per input). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_MIB ((size_t)1 << 20)

/* A non-NULL value to preset an out-parameter with: a failed load must
 * reset it to NULL. */
extern char fz_not_null;
#define FZ_NOT_NULL ((void *)&fz_not_null)

/*
 * Meter the heap between fz_mem_begin and fz_mem_end on the calling
 * thread: bytes requested by malloc, calloc and realloc, minus those
 * freed. The first allocation that takes the live total past limit aborts
 * the process there, so the report's stack shows who asked. what names the
 * call in the message. Allocation failures never reach the meter; a
 * target checks for NB_ERR_NOMEM itself.
 */
void fz_mem_begin(const char *what, size_t limit);
/* Stop metering; returns the peak live total since fz_mem_begin. */
size_t fz_mem_end(void);

/*
 * The bytes as a file, for loaders that take a path: slot 0 or 1, each
 * rewritten in place for every input (an anonymous memory file where the
 * system has them, else a file in a private temporary directory). The path
 * stays valid for the process; open and fopen read the current content.
 */
#define FZ_SLOTS 2
const char *fz_file(int slot, const void *bytes, size_t n);

/* A broken promise: print "nabla fuzz: <message>" and abort. */
_Noreturn void fz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Fail unless st is one of the allowed statuses (a bit mask of 1u << st),
 * and unless a failure left a message; call names the loader. */
void fz_status(const char *call, nb_status st, unsigned allowed);
#define FZ_ALLOW(st) (1u << (st))

#endif
