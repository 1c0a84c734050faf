/*
 * atomic_test.c — host/ckpt/atomic_file: what a save does around the
 * atomic rename, so that it never surprises:
 *   - stale temp files of killed saves are removed, and only those (dead
 *     pid, exact name, regular file, same owner);
 *   - a target's lock refuses a second writer (another process, or a
 *     second lock in this one), lets the holder's own saves through, and
 *     leaves no sidecar behind;
 *   - a re-save keeps the file's mode (and owner, as root);
 *   - a symbolic link is written through, chains and dangling links
 *     included;
 *   - nb_atomic_check_target refuses a path that cannot work, and nb_train
 *     checks its save path and takes its lock before the first epoch.
 * Every test works in a fresh directory of its own.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "ckpt/atomic_file.h"
#include "nabla.h"

/* ------------------------------------------------------------ helpers */

static char dir[256];

static int setup(void **state)
{
    (void)state;
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/nb_atomic_XXXXXX", t && *t ? t : "/tmp");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[1024];
    /* A test may have left a directory without write permission. */
    int n = snprintf(cmd, sizeof cmd, "chmod -R u+rwx '%s' && rm -rf '%s'", dir, dir);
    return n < (int)sizeof cmd && system(cmd) == 0 ? 0 : -1;
}

/* A path that lives as long as the test: char var[] = dir/name. */
#define PATH(var, name)                                                                            \
    char var[512];                                                                                 \
    assert_true(snprintf(var, sizeof var, "%s/%s", dir, name) < (int)sizeof var)

/* dir/name for the moment: four rotating buffers, so a call may take several. */
static const char *P(const char *name)
{
    static char p[4][512];
    static int i;
    i = (i + 1) % 4;
    assert_true(snprintf(p[i], sizeof p[i], "%s/%s", dir, name) < (int)sizeof p[i]);
    return p[i];
}

#define OK(call)                                                                                   \
    do {                                                                                           \
        nb_status ok_st_ = (call);                                                                 \
        if (ok_st_ != NB_OK) {                                                                     \
            fprintf(stderr, "%s:%d: %s: %s: %s\n", __FILE__, __LINE__, #call,                      \
                    nb_status_str(ok_st_), nb_last_error());                                       \
            _fail(__FILE__, __LINE__);                                                             \
        }                                                                                          \
    } while (0)

/* call must fail with want, and the message must contain needle. */
#define FAILS(call, want, needle) fails_at(__FILE__, __LINE__, (call), (want), (needle))
static void fails_at(const char *file, int line, nb_status got, nb_status want, const char *needle)
{
    if (got != want || !strstr(nb_last_error(), needle)) {
        fprintf(stderr, "%s:%d: got %s \"%s\", want %s with \"%s\"\n", file, line,
                nb_status_str(got), nb_last_error(), nb_status_str(want), needle);
        _fail(file, line);
    }
}

/* One complete atomic save of text to path. */
static nb_status save(const char *path, const char *text)
{
    nb_atomic_file *af = NULL;
    nb_status st = nb_atomic_open(path, &af);
    if (st != NB_OK) return st;
    st = nb_atomic_write(af, text, strlen(text));
    if (st != NB_OK) {
        nb_atomic_abort(af);
        return st;
    }
    return nb_atomic_commit(af);
}

/* The whole of a small file ("" when missing). */
static const char *contents(const char *path)
{
    static char buf[256];
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[n] = '\0';
    if (f) fclose(f);
    return buf;
}

static void touch(const char *path)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fclose(f), 0);
}

static int exists(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0;
}

/* Entries of directory d whose names contain part. */
static int entries_with(const char *d, const char *part)
{
    DIR *h = opendir(d);
    assert_non_null(h);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(h))) n += strstr(e->d_name, part) != NULL;
    closedir(h);
    return n;
}

/* The pid of a process that has exited and been reaped: no such process
 * any more (until the kernel's pid counter wraps round to it). */
static pid_t dead_pid(void)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) _exit(0);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    assert_int_equal(kill(pid, 0), -1);
    assert_int_equal(errno, ESRCH);
    return pid;
}

/* ------------------------------------------------- a lock in a child
 *
 * The child takes target's lock, says 'L' (or 'E' with the error on its
 * stderr), waits for one byte from the parent, unlocks and exits. */

typedef struct child {
    pid_t pid;
    int go; /* write end: a byte lets the child unlock and exit */
} child;

static child lock_in_child(const char *target)
{
    int up[2], down[2];
    assert_int_equal(pipe(up), 0);
    assert_int_equal(pipe(down), 0);
    fflush(NULL);
    child c = {fork(), down[1]};
    assert_true(c.pid >= 0);
    if (c.pid == 0) {
        close(up[0]);
        close(down[1]);
        nb_target_lock *l = NULL;
        nb_status st = nb_save_lock("child", target, &l);
        if (st != NB_OK) fprintf(stderr, "child: %s\n", nb_last_error());
        char b = st == NB_OK ? 'L' : 'E';
        if (write(up[1], &b, 1) != 1 || read(down[0], &b, 1) < 0) _exit(3);
        nb_save_unlock(l);
        _exit(0);
    }
    close(up[1]);
    close(down[0]);
    char b = 0;
    assert_int_equal(read(up[0], &b, 1), 1);
    close(up[0]);
    assert_int_equal(b, 'L');
    return c;
}

static void child_release(child *c)
{
    assert_int_equal(write(c->go, "x", 1), 1);
    close(c->go);
    int status;
    assert_int_equal(waitpid(c->pid, &status, 0), c->pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* ---------------------------------------------------- stale temp files */

static void test_stale_temps_removed(void **state)
{
    (void)state;
    PATH(target, "m.st");
    OK(save(target, "v1"));
    pid_t dead = dead_pid(), dead2 = dead_pid();

    /* A live process that is not this one: a child waiting on a pipe. */
    int hold[2];
    assert_int_equal(pipe(hold), 0);
    fflush(NULL);
    pid_t live = fork();
    assert_true(live >= 0);
    if (live == 0) {
        char b;
        close(hold[1]);
        _exit(read(hold[0], &b, 1) < 0);
    }
    close(hold[0]);

    char gone[3][128], kept[12][128];
    snprintf(gone[0], 128, ".m.st.tmp-%ld-0", (long)dead);
    snprintf(gone[1], 128, ".m.st.tmp-%ld-12", (long)dead2);
    snprintf(gone[2], 128, ".m.st.tmp-%ld-18446744073709551615", (long)dead);
    snprintf(kept[0], 128, ".m.st.tmp-%ld-0", (long)live);      /* alive        */
    snprintf(kept[1], 128, ".m.st.tmp-%ld-3", (long)getppid()); /* alive        */
    snprintf(kept[2], 128, ".m.st.tmp-%ld-0x", (long)dead);     /* not the name */
    snprintf(kept[3], 128, ".m.st.tmp-%ld", (long)dead);
    snprintf(kept[4], 128, ".m.st.tmp-%ld-", (long)dead);
    snprintf(kept[5], 128, ".m.st.tmp--%ld-0", (long)dead);
    snprintf(kept[6], 128, ".m.st.tmp-0-0");
    snprintf(kept[7], 128, ".other.tmp-%ld-0", (long)dead); /* another target */
    snprintf(kept[8], 128, "m.st.tmp-%ld-0", (long)dead);
    snprintf(kept[9], 128, ".m.st.tmp-%ld-0.bak", (long)dead);
    snprintf(kept[10], 128, ".m.st.tmp-%ld-1", (long)dead); /* a directory */
    snprintf(kept[11], 128, ".m.st.tmp-%ld-2", (long)dead); /* a link      */
    for (int i = 0; i < 3; i++) touch(P(gone[i]));
    for (int i = 0; i < 10; i++) touch(P(kept[i]));
    assert_int_equal(mkdir(P(kept[10]), 0700), 0);
    assert_int_equal(symlink("nowhere", P(kept[11])), 0);
    /* Another user's file: only root can make one. */
    char other[128];
    snprintf(other, sizeof other, ".m.st.tmp-%ld-5", (long)dead);
    int as_root = geteuid() == 0;
    if (as_root) {
        touch(P(other));
        assert_int_equal(chown(P(other), 1, 1), 0);
    } else {
        print_message("not root: the case of another user's temp file needs root to create\n");
    }

    OK(save(target, "v2"));
    assert_string_equal(contents(target), "v2");
    for (int i = 0; i < 3; i++)
        if (exists(P(gone[i]))) fail_msg("%s was not removed", gone[i]);
    for (int i = 0; i < 12; i++)
        if (!exists(P(kept[i]))) fail_msg("%s was removed", kept[i]);
    if (as_root) assert_true(exists(P(other)));

    /* Once its process is gone the live one's file goes too. */
    close(hold[1]);
    assert_int_equal(waitpid(live, NULL, 0), live);
    OK(save(target, "v3"));
    assert_false(exists(P(kept[0])));
    assert_true(exists(P(kept[1])));
}

/* ------------------------------------------------------------- locks */

static void test_lock_refuses_another_process(void **state)
{
    (void)state;
    PATH(target, "run.st");
    PATH(side, ".run.st.lock");
    OK(save(target, "v1"));
    assert_false(exists(side));

    child c = lock_in_child(target);
    assert_true(exists(side));
    char pid[32];
    snprintf(pid, sizeof pid, "process %ld", (long)c.pid);
    nb_target_lock *l = NULL;
    FAILS(nb_save_lock("run", target, &l), NB_ERR_IO, target);
    assert_null(l);
    assert_non_null(strstr(nb_last_error(), pid));
    assert_non_null(strstr(nb_last_error(), "run: "));
    /* A single save is refused as well, and writes nothing. */
    FAILS(save(target, "v2"), NB_ERR_IO, target);
    assert_non_null(strstr(nb_last_error(), pid));
    assert_string_equal(contents(target), "v1");
    assert_int_equal(entries_with(dir, ".tmp-"), 0);
    child_release(&c);
    assert_false(exists(side)); /* the child's unlock removed it */

    OK(save(target, "v2"));
    assert_string_equal(contents(target), "v2");
    OK(nb_save_lock("run", target, &l));
    assert_true(exists(side));
    nb_save_unlock(l);
    assert_false(exists(side));

    /* A holder killed outright: the kernel drops its lock; the sidecar it
     * leaves is harmless and goes with the next save. */
    c = lock_in_child(target);
    assert_int_equal(kill(c.pid, SIGKILL), 0);
    assert_int_equal(waitpid(c.pid, NULL, 0), c.pid);
    close(c.go);
    assert_true(exists(side));
    OK(save(target, "v3"));
    assert_string_equal(contents(target), "v3");
    assert_false(exists(side));

    /* A leftover sidecar this user cannot write (one of a killed run of
     * someone else's): flock needs no write access, so it still locks. */
    touch(side);
    assert_int_equal(chmod(side, 0444), 0);
    OK(save(target, "v4"));
    assert_string_equal(contents(target), "v4");
    assert_false(exists(side));
}

static void test_lock_same_process(void **state)
{
    (void)state;
    PATH(target, "own.st");
    PATH(side, ".own.st.lock");
    PATH(alias, "alias");
    assert_int_equal(symlink("own.st", alias), 0);
    nb_target_lock *l = NULL, *l2 = NULL;
    OK(nb_save_lock("run", target, &l));
    assert_true(exists(side));
    /* A second lock of the same file, by either name, is a second writer. */
    FAILS(nb_save_lock("run2", target, &l2), NB_ERR_IO, "this process");
    FAILS(nb_save_lock("run2", alias, &l2), NB_ERR_IO, alias);
    assert_null(l2);
    /* The holder's own saves go through, and the lock stays held. */
    OK(save(target, "a"));
    OK(save(alias, "b"));
    assert_string_equal(contents(target), "b");
    assert_true(exists(side));

    /* A forked child inherits the memory, not the lock: it is refused. */
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) _exit(save(target, "child") == NB_ERR_IO ? 0 : 1);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_string_equal(contents(target), "b");
    assert_true(exists(side));

    nb_save_unlock(l);
    assert_false(exists(side));
    OK(nb_save_lock("run", alias, &l));
    nb_save_unlock(l);
    nb_save_unlock(NULL);
    assert_false(exists(side));
    FAILS(nb_save_lock("run", "", &l), NB_ERR_ARG, "empty");
}

/* A failure to take the lock (the fault hook) fails the save cleanly. */
static void test_lock_fault(void **state)
{
    (void)state;
    PATH(target, "f.st");
    OK(save(target, "v1"));
    nb_atomic_reset_faults();
    nb_atomic_set_fault(NB_ATOMIC_LOCK, 1, EMFILE);
    FAILS(save(target, "v2"), NB_ERR_IO, strerror(EMFILE));
    nb_atomic_reset_faults();
    assert_string_equal(contents(target), "v1");
    assert_int_equal(entries_with(dir, "f.st"), 1);
}

/* -------------------------------------------------------------- modes */

static mode_t mode_of(const char *path)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return sb.st_mode & 07777;
}

static void test_mode_kept(void **state)
{
    (void)state;
    mode_t old_mask = umask(022);
    OK(save(P("new1"), "x"));
    assert_int_equal(mode_of(P("new1")), 0644);
    umask(077);
    OK(save(P("new2"), "x"));
    assert_int_equal(mode_of(P("new2")), 0600);
    umask(022);

    PATH(target, "keep.st");
    const mode_t modes[] = {0600, 0640, 0444, 0755};
    for (int i = 0; i < 4; i++) {
        OK(save(target, "x"));
        assert_int_equal(chmod(target, modes[i]), 0);
        OK(save(target, "y"));
        assert_string_equal(contents(target), "y");
        assert_int_equal(mode_of(target), modes[i]);
    }
    /* A failure to set it fails the save (the fault hook) and keeps the old file. */
    assert_int_equal(chmod(target, 0600), 0);
    nb_atomic_reset_faults();
    nb_atomic_set_fault(NB_ATOMIC_MODE, 1, EPERM);
    FAILS(save(target, "z"), NB_ERR_IO, "0600");
    nb_atomic_reset_faults();
    assert_string_equal(contents(target), "y");
    assert_int_equal(entries_with(dir, "keep.st"), 1);

    if (geteuid() == 0) {
        assert_int_equal(chown(target, 1, 1), 0);
        OK(save(target, "w"));
        struct stat sb;
        assert_int_equal(stat(target, &sb), 0);
        assert_int_equal(sb.st_uid, 1);
        assert_int_equal(sb.st_gid, 1);
        assert_int_equal(sb.st_mode & 0777, 0600);
    } else {
        print_message("not root: keeping the owner is only tried as root\n");
    }
    umask(old_mask);
}

/* ---------------------------------------------------------- symlinks */

static void assert_link(const char *path, const char *to)
{
    char buf[512];
    ssize_t n = readlink(path, buf, sizeof buf - 1);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, to);
}

static void test_symlinks_written_through(void **state)
{
    (void)state;
    assert_int_equal(mkdir(P("sub"), 0700), 0);
    PATH(real, "sub/real");
    OK(save(real, "v1"));
    assert_int_equal(chmod(real, 0600), 0);
    /* l1 -> sub/real (relative), l2 -> l1, l3 -> /abs/l2: a chain. */
    assert_int_equal(symlink("sub/real", P("l1")), 0);
    assert_int_equal(symlink("l1", P("l2")), 0);
    assert_int_equal(symlink(P("l2"), P("l3")), 0);
    /* A stale temp file of the real target, in its own directory. */
    char stale[128];
    snprintf(stale, sizeof stale, "sub/.real.tmp-%ld-0", (long)dead_pid());
    touch(P(stale));

    OK(save(P("l3"), "v2"));
    assert_string_equal(contents(real), "v2");
    assert_link(P("l1"), "sub/real");
    assert_link(P("l2"), "l1");
    assert_link(P("l3"), P("l2"));
    assert_int_equal(mode_of(real), 0600);
    assert_false(exists(P(stale)));
    assert_int_equal(entries_with(dir, ".tmp-") + entries_with(P("sub"), ".tmp-"), 0);
    assert_int_equal(entries_with(dir, ".lock") + entries_with(P("sub"), ".lock"), 0);

    /* A relative link counts from the link's own directory. */
    assert_int_equal(symlink("../top", P("sub/up")), 0);
    OK(save(P("top"), "t1"));
    OK(save(P("sub/up"), "t2"));
    assert_string_equal(contents(P("top")), "t2");
    assert_link(P("sub/up"), "../top");

    /* A dangling link creates the file it names. */
    assert_int_equal(symlink("sub/new", P("dl")), 0);
    OK(nb_atomic_check_target("t", P("dl")));
    OK(save(P("dl"), "n"));
    assert_link(P("dl"), "sub/new");
    struct stat sb;
    assert_int_equal(lstat(P("sub/new"), &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    assert_string_equal(contents(P("sub/new")), "n");
    /* ... but not a missing directory on the way. */
    assert_int_equal(symlink("nodir/x", P("dl2")), 0);
    FAILS(save(P("dl2"), "n"), NB_ERR_IO, strerror(ENOENT));
    FAILS(nb_atomic_check_target("t", P("dl2")), NB_ERR_IO, "nodir");

    /* A loop is refused, saving nothing. */
    assert_int_equal(symlink("loop", P("loop")), 0);
    FAILS(save(P("loop"), "x"), NB_ERR_IO, strerror(ELOOP));
    FAILS(nb_atomic_check_target("t", P("loop")), NB_ERR_IO, strerror(ELOOP));
    assert_link(P("loop"), "loop");
    /* A link to a directory is not a file to save to. */
    assert_int_equal(symlink("sub", P("ld")), 0);
    FAILS(nb_atomic_check_target("t", P("ld")), NB_ERR_IO, strerror(EISDIR));
    assert_int_equal(symlink("sub/", P("ld2")), 0);
    FAILS(save(P("ld2"), "x"), NB_ERR_IO, "a directory");
}

/* ----------------------------------------------------- target checks */

static void test_check_target(void **state)
{
    (void)state;
    OK(nb_atomic_check_target("t", P("fresh.st"))); /* a new file */
    assert_false(exists(P("fresh.st")));
    OK(save(P("old.st"), "v1"));
    int before = entries_with(dir, "");
    OK(nb_atomic_check_target("t", P("old.st")));
    assert_string_equal(contents(P("old.st")), "v1");
    assert_int_equal(entries_with(dir, ""), before); /* nothing left behind */

    assert_int_equal(mkdir(P("d"), 0700), 0);
    FAILS(nb_atomic_check_target("t", P("d")), NB_ERR_IO, strerror(EISDIR));
    assert_non_null(strstr(nb_last_error(), P("d")));
    assert_int_equal(mkfifo(P("fifo"), 0600), 0);
    FAILS(nb_atomic_check_target("t", P("fifo")), NB_ERR_IO, "not a regular file");
    FAILS(nb_atomic_check_target("t", P("none/m.st")), NB_ERR_IO, strerror(ENOENT));
    assert_non_null(strstr(nb_last_error(), P("none/m.st")));
    assert_non_null(strstr(nb_last_error(), "t: "));
    FAILS(nb_atomic_check_target("t", P("old.st/m.st")), NB_ERR_IO, strerror(ENOTDIR));
    FAILS(nb_atomic_check_target("t", ""), NB_ERR_ARG, "empty");
    FAILS(nb_atomic_check_target("t", P("d/")), NB_ERR_ARG, "directory");

    /* The trial file goes through the same hook as a save's temp file. */
    nb_atomic_reset_faults();
    nb_atomic_set_fault(NB_ATOMIC_OPEN, 1, ENOSPC);
    FAILS(nb_atomic_check_target("t", P("old.st")), NB_ERR_IO, strerror(ENOSPC));
    nb_atomic_reset_faults();

    if (geteuid() == 0) {
        print_message("root: a directory without write permission still takes files\n");
    } else {
        assert_int_equal(chmod(P("d"), 0500), 0);
        FAILS(nb_atomic_check_target("t", P("d/m.st")), NB_ERR_IO, strerror(EACCES));
        assert_int_equal(chmod(P("d"), 0700), 0);
    }
}

/* ------------------------------------------------- through nb_train */

typedef struct run_watch {
    long epochs;      /* on_epoch calls                           */
    const char *save; /* the run's save path                      */
    long refused;     /* epochs at which a second lock was refused */
} run_watch;

static int on_epoch(void *user, const nb_epoch_stats *s)
{
    (void)s;
    run_watch *w = user;
    w->epochs++;
    nb_target_lock *l = NULL;
    if (nb_save_lock("second", w->save, &l) == NB_ERR_IO) w->refused++;
    nb_save_unlock(l);
    return 0;
}

static void test_train_checks_first(void **state)
{
    (void)state;
    nb_backend *be = NULL;
    assert_int_equal(nb_test_open_backend(&be), 0);
    if (!be) skip();
    const float x[] = {0, 0, 0, 1, 1, 0, 1, 1}, y[] = {0, 1, 1, 0};
    nb_dataset *d = NULL;
    OK(nb_dataset_from_arrays(4, 2, 1, x, y, &d));
    const int widths[] = {2, 3, 1};
    const nb_act acts[] = {NB_ACT_SIGMOID, NB_ACT_IDENTITY};
    nb_model *m = NULL;
    OK(nb_model_create(be, 2, widths, acts, NB_LOSS_MSE, 1, &m));
    run_watch w = {0};
    nb_train_options o;
    nb_train_options_default(&o);
    o.batch = 0;
    o.schedule.max_epochs = 3;
    o.on_epoch = on_epoch;
    o.user = &w;

    /* A save path in a missing directory: refused before any epoch. */
    PATH(missing, "missing/m.st");
    o.save = w.save = missing;
    FAILS(nb_train(m, d, NULL, &o, NULL), NB_ERR_IO, missing);
    assert_int_equal(w.epochs, 0);
    PATH(isdir, "dir.st");
    o.save = w.save = isdir;
    assert_int_equal(mkdir(isdir, 0700), 0);
    FAILS(nb_train(m, d, NULL, &o, NULL), NB_ERR_IO, strerror(EISDIR));
    assert_int_equal(w.epochs, 0);

    /* A path another process is saving to: refused before any epoch. */
    PATH(ck, "t.st");
    o.save = w.save = ck;
    child c = lock_in_child(ck);
    char pid[32];
    snprintf(pid, sizeof pid, "process %ld", (long)c.pid);
    FAILS(nb_train(m, d, NULL, &o, NULL), NB_ERR_IO, ck);
    assert_non_null(strstr(nb_last_error(), pid));
    assert_int_equal(w.epochs, 0);
    assert_false(exists(P("t.st")));
    child_release(&c);

    /* A run holds the lock from start to end, and lets it go. */
    OK(nb_train(m, d, NULL, &o, NULL));
    long reports = w.epochs;
    assert_true(reports >= 3);
    assert_int_equal(w.refused, reports); /* held at every epoch */
    assert_true(exists(P("t.st")));
    assert_false(exists(P(".t.st.lock")));
    nb_target_lock *l = NULL;
    OK(nb_save_lock("after", P("t.st"), &l));
    nb_save_unlock(l);

    /* A run that fails after taking the lock lets it go too: here it
     * cannot resume from a missing file. */
    o.resume = P("no-such-checkpoint.st");
    FAILS(nb_train(m, d, NULL, &o, NULL), NB_ERR_IO, "no-such-checkpoint");
    assert_int_equal(w.epochs, reports);
    assert_false(exists(P(".t.st.lock")));
    OK(nb_save_lock("after", P("t.st"), &l));
    nb_save_unlock(l);

    nb_model_free(m);
    nb_dataset_free(d);
    nb_backend_free(be);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_stale_temps_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_refuses_another_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_same_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_fault, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mode_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlinks_written_through, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_target, setup, teardown),
        cmocka_unit_test_setup_teardown(test_train_checks_first, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
