/*
 * args.c — strict parsing of flag values: the whole string must be a
 * number in range, so "--lr 0.5x" or "--epochs 1e9" is an error, not a
 * silent truncation. Numbers are parsed in the C locale. Also the tool's
 * one way of showing library errors, merging option tables and checking
 * output paths before any work.
 */
#include "cli/args.h"

#include <errno.h>
#include <getopt.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "act.h"

int nb_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "nabla %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return NB_EXIT_USAGE;
}

int nb_cli_verbose;

const char *nb_cli_error(void) { return nb_cli_error_text(nb_last_error()); }

const char *nb_cli_error_text(const char *e)
{
    static char buf[32768];
    if (nb_cli_verbose) return e;
    /* Drop every " (host/…:123)": the library's check locations. */
    size_t n = 0;
    while (*e && n + 1 < sizeof buf) {
        if (strncmp(e, " (host/", 7) == 0) {
            const char *q = e + 7;
            while (*q && *q != ')' && *q != ' ' && *q != '(') q++;
            const char *colon = q;
            while (colon > e + 7 && colon[-1] >= '0' && colon[-1] <= '9') colon--;
            if (*q == ')' && colon < q && colon[-1] == ':') {
                e = q + 1;
                continue;
            }
        }
        buf[n++] = *e++;
    }
    buf[n] = '\0';
    return buf;
}

int nb_cli_fail(const char *cmd, nb_status s)
{
    fprintf(stderr, "nabla %s: %s\n", cmd, nb_cli_error());
    return nb_cli_exit_for(s);
}

int nb_cli_options(struct option *out, int cap, const struct option *const *tables, int n)
{
    int m = 0;
    for (int t = 0; t < n; t++)
        for (const struct option *o = tables[t]; o->name; o++) {
            if (m + 1 >= cap) return 0;
            out[m++] = *o;
        }
    memset(&out[m], 0, sizeof out[m]);
    return 1;
}

int nb_cli_check_output(const char *cmd, const char *flag, const char *path)
{
    struct stat st;
    if (!*path) return nb_cli_usage_error(cmd, "%s: empty path", flag), 0;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return nb_cli_usage_error(cmd, "%s: '%s' is not a regular file", flag, path), 0;
    /* The directory the file goes to. */
    char dir[4096];
    const char *slash = strrchr(path, '/');
    size_t len = slash ? (size_t)(slash - path) : 0;
    if (len >= sizeof dir) return nb_cli_usage_error(cmd, "%s: path too long", flag), 0;
    if (!slash)
        strcpy(dir, ".");
    else if (len == 0)
        strcpy(dir, "/");
    else
        memcpy(dir, path, len), dir[len] = '\0';
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return nb_cli_usage_error(cmd, "%s: cannot write '%s': there is no directory '%s'", flag,
                                  path, dir), 0;
    if (access(dir, W_OK | X_OK) != 0 || (access(path, F_OK) == 0 && access(path, W_OK) != 0))
        return nb_cli_usage_error(cmd, "%s: cannot write '%s': %s", flag, path, strerror(errno)), 0;
    return 1;
}

int nb_cli_exit_for(nb_status s)
{
    switch (s) {
    case NB_OK: return NB_EXIT_OK;
    case NB_ERR_ARG:
    case NB_ERR_DATA:
    case NB_ERR_IO: return NB_EXIT_USAGE;
    case NB_ERR_BACKEND: return NB_EXIT_DEVICE;
    default: return NB_EXIT_FAIL;
    }
}

int nb_cli_device_is_auto(const char *device)
{
    return !device || strcmp(device, "auto") == 0;
}

int nb_arg_long(const char *cmd, const char *flag, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE) {
        nb_cli_usage_error(cmd, "%s: '%s' is not a whole number", flag, s);
        return 0;
    }
    if (v < lo || v > hi) {
        nb_cli_usage_error(cmd, "%s: %ld is outside [%ld, %ld]", flag, v, lo, hi);
        return 0;
    }
    *out = v;
    return 1;
}

int nb_arg_u64(const char *cmd, const char *flag, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s == '-' || *s == '+') {
        nb_cli_usage_error(cmd, "%s: '%s' is not a non-negative whole number", flag, s);
        return 0;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE) {
        nb_cli_usage_error(cmd, "%s: '%s' is not a non-negative whole number", flag, s);
        return 0;
    }
    *out = (uint64_t)v;
    return 1;
}

int nb_arg_double(const char *cmd, const char *flag, const char *s, double lo, double hi,
                  int lo_open, int hi_open, double *out)
{
    char *end;
    errno = 0;
    /* The tool never calls setlocale, so strtod runs in the "C" locale. */
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v)) {
        nb_cli_usage_error(cmd, "%s: '%s' is not a finite number", flag, s);
        return 0;
    }
    if (v < lo || v > hi || (lo_open && v == lo) || (hi_open && v == hi)) {
        nb_cli_usage_error(cmd, "%s: %g is outside %s%g, %g%s", flag, v, lo_open ? "(" : "[", lo,
                           hi, hi_open ? ")" : "]");
        return 0;
    }
    *out = v;
    return 1;
}

/* Split s at commas into at most max fields of at most 31 bytes each. */
static int split(const char *cmd, const char *flag, const char *s, char fields[][32], int max,
                 int *n)
{
    *n = 0;
    const char *p = s;
    for (;;) {
        const char *q = strchr(p, ',');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        if (*n == max) {
            nb_cli_usage_error(cmd, "%s: more than %d entries in '%s'", flag, max, s);
            return 0;
        }
        if (len == 0 || len >= 32) {
            nb_cli_usage_error(cmd, "%s: bad entry %d in '%s'", flag, *n + 1, s);
            return 0;
        }
        memcpy(fields[*n], p, len);
        fields[(*n)++][len] = '\0';
        if (!q) return 1;
        p = q + 1;
    }
}

int nb_arg_widths(const char *cmd, const char *flag, const char *s, int *widths, int max, int *n)
{
    char f[64][32];
    if (max > 64) max = 64;
    if (!split(cmd, flag, s, f, max, n)) return 0;
    if (*n < 2) {
        nb_cli_usage_error(cmd, "%s: need at least an input and an output width, got '%s'", flag, s);
        return 0;
    }
    for (int i = 0; i < *n; i++) {
        long w;
        if (!nb_arg_long(cmd, flag, f[i], 1, 1 << 24, &w)) return 0;
        widths[i] = (int)w;
    }
    return 1;
}

int nb_arg_acts(const char *cmd, const char *flag, const char *s, nb_act *acts, int max, int *n)
{
    char f[64][32];
    if (max > 64) max = 64;
    if (!split(cmd, flag, s, f, max, n)) return 0;
    for (int i = 0; i < *n; i++) {
        if (nb_act_parse(f[i], &acts[i]) != NB_OK) {
            char names[256]; /* softmax is not among them: --loss xent brings it */
            nb_act_names(names, sizeof names, ", ", false);
            nb_cli_usage_error(cmd, "%s: unknown activation '%s' (%s)", flag, f[i], names);
            return 0;
        }
    }
    return 1;
}
