/*
 * safetensors.h — nabla's checkpoint container: safetensors files of
 * float32 tensors plus string metadata, written atomically and read
 * without trusting anything (private).
 *
 * It knows nothing about models: a layer above maps parameters,
 * optimizer state and training state onto named tensors and metadata.
 *
 * File layout (what the `safetensors` Python package reads):
 *   u64 LE N | N bytes of UTF-8 JSON | data buffer
 * The JSON object maps each tensor name to
 *   {"dtype":"F32","shape":[d0,..],"data_offsets":[begin,end]}
 * (offsets into the data buffer), plus "__metadata__": {string: string}.
 * Tensors are little-endian float32, back to back in the order given to
 * the writer; the header is padded with spaces so the data starts 8-byte
 * aligned. Only "F32" exists here.
 *
 * nabla adds three metadata keys of its own, which callers may not use:
 *   "nabla.format"       "1"
 *   "nabla.crc32"        CRC-32 (zlib) of the whole data buffer, 8 lowercase hex
 *   "nabla.header_crc32" CRC-32 of the header's meaning (nb_st_header_crc):
 *                        names, shapes, offsets and every other metadata
 *                        entry, independent of JSON spelling and key order,
 *                        so that no single-bit change of the header can
 *                        silently rename a tensor or alter a metadata value.
 * A file with no "nabla." metadata key at all, as other writers (Python's
 * safetensors, PyTorch) make them, with or without a __metadata__ object
 * of their own, is read as a plain safetensors file: every rule below
 * holds but the checksums, which it does not carry. nb_st_is_nabla tells
 * the two apart; a plain file is weights, never a nabla checkpoint. A
 * file with some nabla.* key but no valid nabla.format is refused.
 *
 * Writing then reading then writing again gives a byte-identical file:
 * nb_st_tensors and nb_st_meta return exactly what nb_st_write takes.
 */
#ifndef NB_CKPT_SAFETENSORS_H
#define NB_CKPT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "nabla.h"

#define NB_ST_MAX_NDIM 4

/* The metadata keys the writer adds and the reader requires. */
#define NB_ST_KEY_FORMAT "nabla.format"
#define NB_ST_KEY_CRC "nabla.crc32"
#define NB_ST_KEY_HEADER_CRC "nabla.header_crc32"
#define NB_ST_FORMAT_VERSION "1"

/* One tensor. For the writer, everything is the caller's and only read
 * during the call; from the reader, everything is borrowed from the file
 * object. data holds the product of shape[0..ndim) floats, row-major; it
 * may be NULL when that product is 0. ndim 0 is a scalar (1 value). */
typedef struct nb_st_tensor {
    const char *name;               /* non-empty UTF-8, not "__metadata__" */
    int ndim;                       /* 0 … NB_ST_MAX_NDIM                  */
    int64_t shape[NB_ST_MAX_NDIM];  /* each ≥ 0; entries past ndim ignored */
    const float *data;
} nb_st_tensor;

/* Elements of t: the product of its dims (1 for ndim 0); 0 on overflow or
 * a bad ndim or dim (which nb_st_write rejects). */
size_t nb_st_numel(const nb_st_tensor *t);

/*
 * Write n tensors, in this order, and n_meta metadata pairs (meta_keys[i]
 * -> meta_vals[i], in this order; keys non-empty, values any UTF-8
 * string, possibly empty) to path, atomically (host/ckpt/atomic_file.h):
 * on any failure the previous file at path is untouched and no temp file
 * remains.
 * Errors:
 *   NB_ERR_ARG        NULL pointers, empty or duplicate names or keys,
 *                     invalid UTF-8, ndim or dims out of range, a reserved
 *                     key ("nabla.format", "nabla.crc32",
 *                     "nabla.header_crc32"), sizes that overflow;
 *   NB_ERR_NONFINITE  a NaN or Inf value (tensor name and flat index
 *                     given); checked before anything is written;
 *   NB_ERR_IO         the call, path and strerror;
 *   NB_ERR_NOMEM.
 */
nb_status nb_st_write(const char *path, const nb_st_tensor *t, size_t n,
                      const char *const *meta_keys, const char *const *meta_vals, size_t n_meta);

/* Reader limits. Every one bounds memory or time before it is spent. */
typedef struct nb_st_limits {
    size_t max_header;  /* JSON header bytes (default 1 MiB)                  */
    size_t max_tensors; /* tensors (default 4096)                             */
    size_t max_meta;    /* metadata entries, nabla's included (default 1024)  */
    uint64_t max_data;  /* data buffer bytes (default UINT64_MAX: the file's) */
} nb_st_limits;

void nb_st_limits_default(nb_st_limits *lim);

typedef struct nb_st_file nb_st_file;

/*
 * Read a checkpoint. lim may be NULL for the defaults. On success *out
 * owns everything; free it with nb_st_free. On failure *out is NULL.
 *
 * Nothing in the file is trusted. Checked, in this order: the header
 * length against the limit and the file size; the JSON's nesting (at most
 * 3 levels) and token count (bounded by the limits, which bounds the
 * parser's memory); JSON syntax, UTF-8 and duplicate keys (jansson);
 * __metadata__, when present, an object; unless the file is plain (no
 * nabla.* key), nabla.format = "1" (before the rest: another version may
 * differ in anything); the exact schema of every entry (dtype
 * "F32", shape of 0…4 integers ≥ 0, data_offsets two integers with
 * end − begin = 4 × elements); offsets that tile the data buffer exactly
 * (no overlap, gap or trailing byte); metadata values all strings and both
 * checksums present as 8 lowercase hex digits and the header checksum
 * (nabla files only); then, after reading the data, its checksum (nabla
 * files only); then every value finite.
 *
 * Memory: the header (≤ max_header, freed after parsing), jansson's tree
 * of it (bounded through the token limit 16·max_tensors + 4·max_meta +
 * 16, which no valid file within the limits exceeds; the worst case
 * measured, 34 000 empty objects, costs 8 MiB with the defaults), the
 * data buffer (≤ file size, allocated only after every size was checked
 * against the file size) and small tables: under 2 × file size + 16 MiB.
 * Time: linear in the file size, plus sorting the tensors and keys.
 *
 * Errors: NB_ERR_IO (open, fstat, read; not a regular file), NB_ERR_DATA
 * (malformed: the message names the file and the byte offset or the
 * tensor; "checksum mismatch" for a CRC failure; "unsupported format
 * version"), NB_ERR_NOMEM, NB_ERR_ARG (NULL arguments).
 */
nb_status nb_st_read(const char *path, const nb_st_limits *lim, nb_st_file **out);

/* The same from memory (size bytes at bytes, only read during the call);
 * name is used in messages. This is the fuzzing entry point. */
nb_status nb_st_read_mem(const char *name, const void *bytes, size_t size,
                         const nb_st_limits *lim, nb_st_file **out);

void nb_st_free(nb_st_file *f);

/* The tensors in file order; borrowed, valid until nb_st_free. *n is set. */
const nb_st_tensor *nb_st_tensors(const nb_st_file *f, size_t *n);
/* The tensor called name, or NULL; borrowed. O(log n). */
const nb_st_tensor *nb_st_find(const nb_st_file *f, const char *name);
/* The caller-provided metadata (nabla's own keys left out), in file
 * order: parallel arrays of *n keys and values, as nb_st_write takes
 * them; borrowed. */
void nb_st_meta(const nb_st_file *f, const char *const **keys, const char *const **vals,
                size_t *n);
/* 1 for a nabla file (its format version and both checksums verified),
 * 0 for a plain safetensors file from another writer (no nabla.* key). */
int nb_st_is_nabla(const nb_st_file *f);
/* The value of metadata key (nabla's own keys included), or NULL; borrowed. */
const char *nb_st_meta_get(const nb_st_file *f, const char *key);

/*
 * The value "nabla.header_crc32" must hold: CRC-32 (zlib polynomial) of
 *   u64 n_tensors, u64 n_meta',
 *   per tensor in order of (begin, end, name bytes):
 *     name, 0x00, "F32", 0x00, u8 ndim, u64 dim × ndim, u64 begin, u64 end
 *   per metadata entry other than "nabla.header_crc32", in key byte order:
 *     key, 0x00, value, 0x00
 * with every u64 little-endian and n_meta' the count of those entries.
 * offsets is (n, 2): begin and end of each tensor in the data buffer.
 * Exposed so tests (and tools) can build files whose checksums are right
 * but whose content is not. NB_ERR_ARG (NULLs, ndim out of range),
 * NB_ERR_NOMEM.
 */
nb_status nb_st_header_crc(const nb_st_tensor *t, const uint64_t *offsets, size_t n,
                           const char *const *keys, const char *const *vals, size_t n_meta,
                           uint32_t *out);

#endif
