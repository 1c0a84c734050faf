/*
 * run_cli.h — running the nabla tool from a cmocka test (include once per
 * test file, after <cmocka.h>).
 *
 * The binary comes from $NABLA_CLI (set by CTest). Each run's stdout and
 * stderr go to files in a private temporary directory and are read back
 * into out_text and err_text. Every run must exit normally: a crash or an
 * abort fails the test.
 */
#ifndef NB_TEST_RUN_CLI_H
#define NB_TEST_RUN_CLI_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *cli;
static char tmpdir[256];
/* When set, the next runs read this file as standard input (else none). */
static const char *run_stdin;
static char out_text[1 << 16], err_text[1 << 16];

static inline void slurp(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, size - 1, f) : 0;
    buf[n] = '\0';
    if (f) fclose(f);
}

/* Run `nabla args` with extra "NAME=VALUE" settings (env, NULL-terminated,
 * may be NULL); return its exit status. */
static inline int run_v(const char *const *env, const char *arg0, va_list ap)
{
    const char *argv[64];
    int argc = 0;
    argv[argc++] = cli;
    for (const char *a = arg0; a && argc < 63; a = va_arg(ap, const char *)) argv[argc++] = a;
    argv[argc] = NULL;
    char out[300], err[300];
    snprintf(out, sizeof out, "%s/stdout", tmpdir);
    snprintf(err, sizeof err, "%s/stderr", tmpdir);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        for (int i = 0; env && env[i]; i++) {
            char name[128];
            const char *eq = strchr(env[i], '=');
            size_t n = eq ? (size_t)(eq - env[i]) : 0;
            if (!eq || n >= sizeof name) _exit(126);
            memcpy(name, env[i], n);
            name[n] = '\0';
            setenv(name, eq + 1, 1);
        }
        if (!freopen(out, "w", stdout) || !freopen(err, "w", stderr)) _exit(127);
        if (!freopen(run_stdin ? run_stdin : "/dev/null", "r", stdin)) _exit(127);
        execv(cli, (char *const *)argv);
        _exit(127);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    slurp(out, out_text, sizeof out_text);
    slurp(err, err_text, sizeof err_text);
    if (!WIFEXITED(status)) {
        print_error("nabla %s ended by signal %d; stderr: %s\n", argv[1] ? argv[1] : "",
                    WIFSIGNALED(status) ? WTERMSIG(status) : 0, err_text);
        fail();
    }
    return WEXITSTATUS(status);
}

static inline int run_env(const char *const *env, const char *arg0, ...)
{
    va_list ap;
    va_start(ap, arg0);
    int code = run_v(env, arg0, ap);
    va_end(ap);
    return code;
}

/* Run `nabla args...` (NULL-terminated) in the test's own environment. */
static inline int run(const char *arg0, ...)
{
    va_list ap;
    va_start(ap, arg0);
    int code = run_v(NULL, arg0, ap);
    va_end(ap);
    return code;
}

/* assert_int_equal on an exit status, showing the run's stderr if not. */
#define assert_exit(call, want)                                                                    \
    do {                                                                                           \
        int got_ = (call);                                                                         \
        if (got_ != (want)) print_error("exit %d, stderr: %s\n", got_, err_text);                  \
        assert_int_equal(got_, (want));                                                            \
    } while (0)

/* tmpdir/name; the last four results stay valid. */
static inline const char *path_in(const char *name)
{
    static char buf[4][300];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", tmpdir, name);
    return buf[i];
}

/* Write text to tmpdir/name; returns the path (valid until the next call). */
static inline const char *write_file(const char *name, const char *text)
{
    static char path[300];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    return path;
}

static inline int cli_setup(void **state)
{
    (void)state;
    cli = getenv("NABLA_CLI");
    if (!cli || access(cli, X_OK) != 0) {
        print_error("NABLA_CLI must name the nabla binary (CTest sets it)\n");
        return -1;
    }
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/nabla-cli-XXXXXX", t && *t ? t : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static inline int cli_teardown(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

#endif
