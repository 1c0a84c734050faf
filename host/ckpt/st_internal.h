/*
 * st_internal.h — what the three files of the safetensors container share
 * (private to host/ckpt/st_*.c; callers use safetensors.h).
 *
 * st_common.c holds the helpers both directions need (names in messages,
 * CRCs, sorting, the header digest), st_write.c the writer and st_read.c
 * the reader; the little-endian codecs are defined here, inline, since
 * they run once per element. Nothing here is an API: no argument is
 * checked, and the format itself is documented in safetensors.h.
 * import.c, which reads names from foreign files, borrows nb_st_shown.
 */
#ifndef NB_CKPT_ST_INTERNAL_H
#define NB_CKPT_ST_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "ckpt/safetensors.h"

#define NB_ST_SHOW 48 /* bytes of a name quoted in a message */
#define NB_ST_SHOW_CAP (NB_ST_SHOW * 4 + 8)

struct nb_st_file {
    json_t *root;                 /* the header: owns every name, key and value    */
    float *data;                  /* the whole data buffer, decoded                */
    nb_st_tensor *t;              /* (n) in file order                             */
    size_t n;
    const nb_st_tensor **by_name; /* (n) sorted by name, for nb_st_find            */
    const char **keys, **vals;    /* (n_meta) the caller's metadata, in file order */
    size_t n_meta;
    int plain;                    /* no nabla.* metadata: nothing to checksum      */
};

/* Tensors in data order, for the coverage check and the header digest. */
typedef struct nb_st_span {
    uint64_t begin, end;
    const nb_st_tensor *t;
} nb_st_span;

typedef struct nb_st_kv {
    const char *k, *v;
} nb_st_kv;

/* 1 for the metadata keys nabla reserves (NB_ST_KEY_*). */
int nb_st_is_reserved(const char *key);

/* Strict UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF): what jansson accepts. */
int nb_st_utf8_valid(const char *str);

/* A name made safe for a one-line message: control bytes as \xNN, cut
 * after NB_ST_SHOW bytes at a UTF-8 character boundary. out has
 * NB_ST_SHOW_CAP bytes; returns out. */
const char *nb_st_shown(char *out, const char *s);

/* crc continued over n bytes at p (zlib's CRC-32, any n). */
uint32_t nb_st_crc_bytes(uint32_t crc, const void *p, size_t n);

/* u64 <-> little-endian bytes. Inline, like the float codecs below: they
 * run once per element in the writer's and reader's loops. */
static inline void nb_st_put_u64(unsigned char *b, uint64_t v)
{
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
}

static inline uint64_t nb_st_get_u64(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | b[i];
    return v;
}

/* float32 <-> little-endian bytes, whatever the host's byte order. */
static inline void nb_st_f32_to_le(float f, unsigned char *b)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    for (int i = 0; i < 4; i++) b[i] = (unsigned char)(u >> (8 * i));
}

static inline float nb_st_f32_from_le(const unsigned char *b)
{
    uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* qsort/bsearch comparators: nb_st_span by (begin, end, name); nb_st_kv by
 * key; const nb_st_tensor * by name; const char * by bytes. */
int nb_st_span_cmp(const void *pa, const void *pb);
int nb_st_kv_cmp(const void *pa, const void *pb);
int nb_st_name_cmp(const void *pa, const void *pb);
int nb_st_str_cmp(const void *a, const void *b);

/* 1 if some pair in the sorted strings a (n) is equal; *dup names it. */
int nb_st_sorted_dup(const char **a, size_t n, const char **dup);

/* The digest of nb_st_header_crc over already sorted spans and entries
 * (kv holds no NB_ST_KEY_HEADER_CRC). */
uint32_t nb_st_header_digest(const nb_st_span *sp, size_t n, const nb_st_kv *kv, size_t nkv);

#endif
