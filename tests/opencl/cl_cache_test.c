/*
 * cl_cache_test.c — the on-disk cache of compiled programs: the second
 * backend on a device loads the program instead of compiling it; a
 * corrupt, truncated or foreign entry is ignored and rebuilt, never handed
 * to the driver; "off" disables the cache. A cache someone else could have
 * written (a directory or entry writable by group or others or owned by
 * another user, an entry that is a link or not a plain file) is not used
 * at all: a valid entry in it is not loaded, nothing is written, and the
 * backend's note says why. Skips without OpenCL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/backend_opts.h"
#include "backend.h"
#include "nabla.h"

static char dir[256];
static char entry[600]; /* the one cache file, once it exists */

static int setup(void **state)
{
    (void)state;
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/nabla-cache-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir)) return -1;
    setenv("NABLA_CACHE_DIR", dir, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static char note[16384]; /* the last backend's nb_backend_note */

/* Create the OpenCL backend; return whether its program came from the cache. */
static int open_cached(void)
{
    nb_backend *be = NULL;
    nb_status st = nb_cli_backend_create("opencl", &be);
    if (st == NB_ERR_UNSUPPORTED) {
        print_message("skipped: no OpenCL: %s\n", nb_last_error());
        skip();
    }
    if (st != NB_OK) {
        print_error("%s\n", nb_last_error());
        fail();
    }
    /* The program must work whichever way it was made: run one op. */
    nb_buf b;
    float v = 0.0f;
    assert_int_equal(nb_be_alloc(be, &b, 3, NB_F32), NB_OK);
    assert_int_equal(nb_be_fill(be, 3, 2.5f, nb_view_at(&b, 0)), NB_OK);
    assert_int_equal(nb_be_read(be, &b, 2, &v, 1), NB_OK);
    assert_true(v == 2.5f);
    nb_be_free(be, &b);
    double seconds;
    int cached;
    nb_backend_build_info(be, &seconds, &cached);
    snprintf(note, sizeof note, "%s", nb_backend_note(be));
    if (note[0]) print_message("note: %s\n", note);
    nb_backend_free(be);
    assert_true(cached == 0 || cached == 1);
    return cached;
}

static void find_entry(void)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, "cl-", 3) == 0) snprintf(entry, sizeof entry, "%s/%s", dir, e->d_name), n++;
    closedir(d);
    assert_int_equal(n, 1); /* one device, one option set: one entry, no temp files */
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

static void test_second_start_is_cached(void **state)
{
    (void)state;
    assert_int_equal(open_cached(), 0);
    find_entry();
    assert_int_equal(open_cached(), 1);
}

/* Flip one byte in the payload: detected by its hash, rebuilt, rewritten. */
static void test_corrupt_entry_is_rebuilt(void **state)
{
    (void)state;
    if (!entry[0]) skip();
    long n = file_size(entry);
    FILE *f = fopen(entry, "r+b");
    assert_non_null(f);
    fseek(f, n / 2, SEEK_SET);
    int c = fgetc(f);
    fseek(f, n / 2, SEEK_SET);
    fputc(c ^ 0x40, f);
    fclose(f);
    assert_int_equal(open_cached(), 0);
    assert_int_equal(open_cached(), 1); /* the rebuild replaced the bad entry */
}

static void test_truncated_and_foreign_entries(void **state)
{
    (void)state;
    if (!entry[0]) skip();
    assert_int_equal(truncate(entry, file_size(entry) / 3), 0);
    assert_int_equal(open_cached(), 0);
    FILE *f = fopen(entry, "wb"); /* not a cache file at all */
    assert_non_null(f);
    fputs("hello", f);
    fclose(f);
    assert_int_equal(open_cached(), 0);
    assert_int_equal(open_cached(), 1);
}

static void test_cache_off(void **state)
{
    (void)state;
    if (!entry[0]) skip();
    setenv("NABLA_CACHE_DIR", "off", 1);
    assert_int_equal(open_cached(), 0);
    assert_int_equal(open_cached(), 0);
    setenv("NABLA_CACHE_DIR", dir, 1);
}

/* ---- a cache that someone else could have written ---- */

/* The whole file, to put a good entry back after a test changes it. */
static unsigned char *slurp(const char *path, long *n)
{
    *n = file_size(path);
    unsigned char *buf = malloc((size_t)*n);
    FILE *f = fopen(path, "rb");
    assert_non_null(buf);
    assert_non_null(f);
    assert_int_equal(fread(buf, 1, (size_t)*n, f), (size_t)*n);
    fclose(f);
    return buf;
}

static void spit(const char *path, const unsigned char *buf, long n, mode_t mode)
{
    unlink(path);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, (size_t)n, f), (size_t)n);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
}

/* Entries and temporary files in the cache directory. */
static int dir_files(void)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* The note must contain want; print both otherwise. */
static void expect_note(const char *want)
{
    if (!strstr(note, want)) {
        print_error("expected the note to contain '%s'; it is '%s'\n", want, note);
        fail();
    }
}

/* The entry the cache would load, byte for byte unchanged, is not loaded
 * while the directory is writable by others or by its group. */
static void test_writable_dir_is_not_used(void **state)
{
    (void)state;
    if (!entry[0]) skip();
    assert_int_equal(open_cached(), 1); /* the entry is good and trusted */
    assert_int_equal(note[0], '\0');
    long n;
    unsigned char *good = slurp(entry, &n);
    char want[700];
    const mode_t modes[] = {0777, 0770, 0702};
    const char *const says[] = {"writable by others", "writable by its group", "writable by others"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(chmod(dir, modes[i]), 0);
        assert_int_equal(open_cached(), 0); /* compiled, though a valid entry is there */
        snprintf(want, sizeof want, "kernel cache %s is %s: not used (chmod 700 %s)", dir, says[i],
                 dir);
        expect_note(want);
        assert_int_equal(dir_files(), 1); /* nothing written: no new entry, no temp file */
        long m;
        unsigned char *now = slurp(entry, &m);
        assert_true(m == n && memcmp(now, good, (size_t)n) == 0);
        free(now);
    }
    assert_int_equal(chmod(dir, 0700), 0);
    assert_int_equal(open_cached(), 1);
    assert_int_equal(note[0], '\0');
    free(good);
}

/* 64-bit FNV-1a, as the cache's payload hash is defined. */
static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001B3ull;
    return h;
}

/* A planted entry with a valid header and hash but a payload of junk, in a
 * directory writable by others: never handed to the driver, no failure. */
static void test_planted_binary_in_shared_dir(void **state)
{
    (void)state;
    if (!entry[0]) skip();
    long n;
    unsigned char *good = slurp(entry, &n), *bogus = malloc((size_t)n);
    assert_non_null(bogus);
    assert_true(n > 32);
    memcpy(bogus, good, 32);
    for (long i = 32; i < n; i++) bogus[i] = (unsigned char)(i * 37 + 11);
    uint64_t h = fnv1a(bogus + 32, (size_t)(n - 32));
    memcpy(bogus + 24, &h, 8);
    spit(entry, bogus, n, 0666);
    assert_int_equal(chmod(dir, 0777), 0);
    assert_int_equal(open_cached(), 0); /* and the op in open_cached ran correctly */
    expect_note("writable by others: not used");
    assert_int_equal(chmod(dir, 0700), 0);
    spit(entry, good, n, 0600);
    assert_int_equal(open_cached(), 1);
    free(good), free(bogus);
}

/* An entry writable by others, a link to a good entry, and a FIFO under
 * the entry's name: each refused (the FIFO without hanging) and left in
 * place for the user to remove, with the program compiled. */
static void test_untrusted_entries_are_not_used(void **state)
{
    (void)state;
    if (!entry[0]) skip();
    long n;
    unsigned char *good = slurp(entry, &n);
    char want[800], copy[700];

    assert_int_equal(chmod(entry, 0666), 0);
    assert_int_equal(open_cached(), 0);
    snprintf(want, sizeof want, "kernel cache file %s is writable by others: not used (remove it)",
             entry);
    expect_note(want);
    struct stat sb;
    assert_int_equal(stat(entry, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0666); /* not replaced behind the user's back */
    assert_int_equal(chmod(entry, 0620), 0);
    assert_int_equal(open_cached(), 0);
    expect_note("is writable by its group: not used");

    snprintf(copy, sizeof copy, "%s.good", dir); /* outside the cache directory */
    spit(copy, good, n, 0600);
    assert_int_equal(unlink(entry), 0);
    assert_int_equal(symlink(copy, entry), 0);
    assert_int_equal(open_cached(), 0);
    expect_note("is a symbolic link: not used");
    assert_int_equal(lstat(entry, &sb), 0);
    assert_true(S_ISLNK(sb.st_mode));
    unlink(copy);

    assert_int_equal(unlink(entry), 0);
    assert_int_equal(mkfifo(entry, 0600), 0);
    assert_int_equal(open_cached(), 0);
    expect_note("is not a regular file: not used");

    spit(entry, good, n, 0600);
    assert_int_equal(open_cached(), 1);
    assert_int_equal(note[0], '\0');
    free(good);
}

/* A directory or an entry that belongs to another user (uid 65534,
 * "nobody"); only root can make one. */
static void test_foreign_owner_is_not_used(void **state)
{
    (void)state;
    if (!entry[0]) skip();
    if (geteuid() != 0) {
        print_message("skipped: handing files to another user (chown) needs root\n");
        skip();
    }
    char want[800];
    assert_int_equal(chown(entry, 65534, 65534), 0);
    assert_int_equal(open_cached(), 0);
    snprintf(want, sizeof want, "kernel cache file %s is owned by uid 65534, not by this user "
                                "(uid 0): not used (remove it)", entry);
    expect_note(want);
    assert_int_equal(chown(entry, 0, 0), 0);
    assert_int_equal(open_cached(), 1);

    assert_int_equal(chown(dir, 65534, 65534), 0); /* mode 0700: only its owner may write */
    assert_int_equal(open_cached(), 0);
    snprintf(want, sizeof want, "kernel cache %s is owned by uid 65534, not by this user (uid 0): "
                                "not used (use a cache directory of your own (the option "
                                "cache_dir, NABLA_CACHE_DIR for the nabla command))", dir);
    expect_note(want);
    assert_int_equal(dir_files(), 1);
    assert_int_equal(chown(dir, 0, 0), 0);
    assert_int_equal(open_cached(), 1);
}

/* The directory nabla creates is the user's alone, and so are its entries. */
static void test_created_dir_is_private(void **state)
{
    (void)state;
    if (!entry[0]) skip();
    char sub[400], cmd[500];
    snprintf(sub, sizeof sub, "%s/new/nabla", dir);
    setenv("NABLA_CACHE_DIR", sub, 1);
    mode_t old = umask(0); /* the modes must not depend on a strict umask */
    int cached = open_cached();
    umask(old);
    struct stat sb;
    assert_int_equal(stat(sub, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    assert_int_equal(cached, 0);
    assert_int_equal(open_cached(), 1);
    snprintf(cmd, sizeof cmd, "test \"$(stat -c %%a '%s'/cl-*.bin)\" = 600", sub);
    assert_int_equal(system(cmd), 0);
    setenv("NABLA_CACHE_DIR", dir, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_second_start_is_cached),
        cmocka_unit_test(test_corrupt_entry_is_rebuilt),
        cmocka_unit_test(test_truncated_and_foreign_entries),
        cmocka_unit_test(test_cache_off),
        cmocka_unit_test(test_writable_dir_is_not_used),
        cmocka_unit_test(test_planted_binary_in_shared_dir),
        cmocka_unit_test(test_untrusted_entries_are_not_used),
        cmocka_unit_test(test_foreign_owner_is_not_used),
        cmocka_unit_test(test_created_dir_is_private),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
