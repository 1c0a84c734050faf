/*
 * cl_record.c — tuning records: the winners of `nabla tune` for one
 * device, driver and kernel source, kept next to the program cache in
 * tune-<key>.txt, where key hashes the platform, device, driver, OpenCL
 * version and the kernel sources. A record is a short text file:
 *
 *     nabla-tune 1
 *     key 0123456789abcdef
 *     gemm TM,TN,TK,WM,WN,VW,PAD,DB,LOCAL
 *     gemv_wg 16
 *     wg 256
 *     gemm_small 32768
 *
 * exactly these lines in this order. It decides what is compiled and run,
 * so it is read as untrusted input: the directory and file pass the same
 * ownership checks as the cache (cl_fs.c), the size is bounded, every
 * number is parsed strictly and range-checked, the key must match, and the
 * configuration must be one gemm.cl accepts and fit the device's (possibly
 * test-lowered) limits. Anything else and the ladder's choice stands.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "opencl/cl_internal.h"
#include "opencl/cl_fs.h"
#include "status.h"

enum { RECORD_MAX = 1024 };
static const char RECORD_HEAD[] = "nabla-tune 1\n";

static uint64_t mix(uint64_t h, const char *s)
{
    for (size_t i = 0, n = strlen(s) + 1; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001B3ull;
    return h;
}

/* The record's key: device identity and kernel source hash. */
static nb_status record_key(const nb_cl_device *dev, uint64_t *key)
{
    char **texts;
    int n;
    NB_TRY(nb_cl_sources(dev->cfg, &texts, &n));
    uint64_t src = nb_cl_sources_hash((const char *const *)texts, n);
    nb_cl_sources_free(texts, n);
    char srchex[32];
    snprintf(srchex, sizeof srchex, "%016llx", (unsigned long long)src);
    const nb_device_info *i = &dev->info;
    uint64_t h = 0xCBF29CE484222325ull;
    const char *parts[] = {"nabla-tune", i->platform_name, i->name, i->driver, i->version, srchex};
    for (size_t k = 0; k < sizeof parts / sizeof *parts; k++) h = mix(h, parts[k]);
    *key = h;
    return NB_OK;
}

/* A decimal number lo … hi at *p, no sign or space, then the byte end;
 * advances *p past end. 0 if anything else. */
static int take_num(const char **p, long lo, long hi, char end, long *out)
{
    const char *s = *p;
    if (*s < '0' || *s > '9') return 0;
    long x = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        x = 10 * x + (*s - '0');
        if (x > hi) return 0; /* before it could overflow: hi is far below LONG_MAX / 10 */
    }
    if (x < lo || *s != end) return 0;
    *p = s + 1;
    *out = x;
    return 1;
}

static int take_word(const char **p, const char *word)
{
    size_t n = strlen(word);
    if (strncmp(*p, word, n) != 0) return 0;
    *p += n;
    return 1;
}

static int pow2(long x) { return x >= 1 && (x & (x - 1)) == 0; }

/* Parse text (NUL-terminated) into t; 0 with *why on any deviation. */
static int parse_record(const char *s, uint64_t key, nb_cl_tunables *t, const char **why)
{
    char keyline[64];
    snprintf(keyline, sizeof keyline, "key %016llx\n", (unsigned long long)key);
    *why = "is malformed";
    if (!take_word(&s, RECORD_HEAD)) return 0;
    if (strncmp(s, "key ", 4) != 0) return 0;
    if (!take_word(&s, keyline)) return *why = "is for another device or kernel source", 0;
    long g[9], gemv, wg, small;
    if (!take_word(&s, "gemm ")) return 0;
    for (int i = 0; i < 9; i++)
        if (!take_num(&s, 0, 1L << 20, i < 8 ? ',' : '\n', &g[i])) return 0;
    if (!take_word(&s, "gemv_wg ") || !take_num(&s, 1, 1L << 20, '\n', &gemv)) return 0;
    if (!take_word(&s, "wg ") || !take_num(&s, 1, 1L << 20, '\n', &wg)) return 0;
    /* The bound is in multiply-adds; 2^40 is far past any tile's worth. */
    if (!take_word(&s, "gemm_small ") || !take_num(&s, 0, 1L << 40, '\n', &small)) return 0;
    if (*s != '\0') return 0;
    if (!pow2(gemv) || !pow2(wg)) return *why = "has a work-group size that is not a power of two", 0;
    nb_cl_tunables r = *t;
    r.gemm_tm = (int)g[0], r.gemm_tn = (int)g[1], r.gemm_tk = (int)g[2], r.gemm_wm = (int)g[3];
    r.gemm_wn = (int)g[4], r.gemm_vw = (int)g[5], r.gemm_pad = (int)g[6], r.gemm_db = (int)g[7];
    r.gemm_local = (int)g[8];
    r.gemv_wg = (int)gemv, r.wg = (int)wg, r.gemm_small = (double)small;
    if (nb_cl_gemm_invalid(&r)) return *why = "has a GEMM configuration gemm.cl refuses", 0;
    *t = r;
    return 1;
}

static void record_name(char *buf, size_t n, uint64_t key)
{
    snprintf(buf, n, "tune-%016llx.txt", (unsigned long long)key);
}

int nb_cl_record_apply(const nb_cl_device *dev, nb_cl_tunables *t, char *note, size_t n)
{
    char dir[4096], name[64], why[128];
    uint64_t key;
    note[0] = '\0';
    if (!nb_cl_fs_dir(dev->cfg, dir, sizeof dir) || record_key(dev, &key) != NB_OK) return 0;
    int missing, refused;
    int dfd = nb_cl_fs_open_dir(note, n, dir, &missing);
    if (dfd < 0) return 0;
    record_name(name, sizeof name, key);
    struct stat sb;
    const char *bad = NULL;
    int fd = nb_cl_fs_open_file(dfd, name, &sb, &bad, why, sizeof why, &refused);
    close(dfd);
    if (fd < 0) {
        if (refused)
            snprintf(note, n, "tuning record %s/%s %s: not used (remove it)", dir, name, bad);
        return 0;
    }
    char text[RECORD_MAX + 1];
    ssize_t got = sb.st_size > 0 && sb.st_size <= RECORD_MAX ? read(fd, text, RECORD_MAX + 1) : -1;
    close(fd);
    nb_cl_tunables r = *t;
    bad = "is empty or over 1 KiB";
    if (got > 0 && got <= RECORD_MAX && memchr(text, '\0', (size_t)got) == NULL) {
        text[got] = '\0';
        if (parse_record(text, key, &r, &bad)) {
            /* Tuned on this device, but perhaps under other limits. */
            int one_d = (size_t)r.wg <= t->max_wg && (size_t)r.gemv_wg <= t->max_wg &&
                        (size_t)r.wg <= dev->max_item[0] && (size_t)r.gemv_wg <= dev->max_item[0];
            if (one_d && nb_cl_gemm_fits(&r, dev->max_item)) {
                r.from_record = 1;
                *t = r;
                return 1;
            }
            bad = "does not fit the device's limits";
        }
    }
    snprintf(note, n, "tuning record %s/%s %s: not used (run nabla tune again)", dir, name, bad);
    return 0;
}

nb_status nb_cl_record_store(const nb_cl_device *dev, const nb_cl_tunables *t, char *path, size_t n)
{
    const char *why = nb_cl_gemm_invalid(t);
    if (why) return NB_FAIL(NB_ERR_INTERNAL, "nb_cl_record_store: %s", why);
    char dir[4096], name[64], note[4400] = "", text[RECORD_MAX], g[128];
    if (!nb_cl_fs_dir(dev->cfg, dir, sizeof dir))
        return NB_FAIL(NB_ERR_IO, "tuning record: no cache directory (the cache is off, or "
                                  "neither XDG_CACHE_HOME nor HOME is set)");
    uint64_t key;
    NB_TRY(record_key(dev, &key));
    record_name(name, sizeof name, key);
    snprintf(path, n, "%s/%s", dir, name);
    int missing;
    int dfd = nb_cl_fs_open_dir(note, sizeof note, dir, &missing);
    if (dfd < 0 && missing) dfd = nb_cl_fs_create_dir(note, sizeof note, dir);
    if (dfd < 0) return NB_FAIL(NB_ERR_IO, "tuning record: %s", note[0] ? note : dir);
    nb_cl_gemm_describe(t, g, sizeof g);
    int len = snprintf(text, sizeof text, "%skey %016llx\ngemm %s\ngemv_wg %d\nwg %d\ngemm_small %.0f\n",
                       RECORD_HEAD, (unsigned long long)key, g, t->gemv_wg, t->wg, t->gemm_small);
    int ok = len > 0 && len < (int)sizeof text && nb_cl_fs_write_atomic(dfd, name, text, (size_t)len, NULL, 0);
    close(dfd);
    if (!ok) return NB_FAIL(NB_ERR_IO, "tuning record: cannot write %s", path);
    return NB_OK;
}
