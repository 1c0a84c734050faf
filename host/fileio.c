/*
 * fileio.c — opening input files without blocking and refusing anything
 * but a regular file (see fileio.h).
 */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "status.h"

/* What a non-regular file is, for the message. */
static const char *kind_of(mode_t m)
{
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISDIR(m)) return "a directory";
    if (S_ISCHR(m) || S_ISBLK(m)) return "a device";
    if (S_ISSOCK(m)) return "a socket";
    return "not a plain file";
}

nb_status nb_open_input(const char *call, const char *path, int *fd, uint64_t *size)
{
    *fd = -1;
    /* O_NONBLOCK makes opening a FIFO return at once instead of waiting
     * for a writer; O_NOCTTY keeps a terminal from becoming ours. */
    int h = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (h < 0) return NB_FAIL(NB_ERR_IO, "%s: %s: cannot open: %s", call, path, strerror(errno));
    struct stat sb;
    nb_status st = NB_OK;
    int flags;
    if (fstat(h, &sb) != 0)
        st = NB_FAIL(NB_ERR_IO, "%s: %s: cannot stat: %s", call, path, strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        st = NB_FAIL(NB_ERR_IO, "%s: %s: not a regular file (%s)", call, path, kind_of(sb.st_mode));
    else if (sb.st_size < 0)
        st = NB_FAIL(NB_ERR_IO, "%s: %s: negative file size", call, path);
    /* Reads are then blocking as usual (it changes nothing for a regular
     * file, but nothing below needs to know it was ever set). */
    else if ((flags = fcntl(h, F_GETFL)) < 0 || fcntl(h, F_SETFL, flags & ~O_NONBLOCK) < 0)
        st = NB_FAIL(NB_ERR_IO, "%s: %s: fcntl: %s", call, path, strerror(errno));
    if (st != NB_OK) {
        close(h); /* read-only: nothing to lose if closing fails */
        return st;
    }
    *fd = h;
    if (size) *size = (uint64_t)sb.st_size;
    return NB_OK;
}

nb_status nb_fopen_input(const char *call, const char *path, FILE **f, uint64_t *size)
{
    int fd;
    *f = NULL;
    NB_TRY(nb_open_input(call, path, &fd, size));
    *f = fdopen(fd, "rb");
    if (!*f) {
        nb_status st = NB_FAIL(NB_ERR_IO, "%s: %s: fdopen: %s", call, path, strerror(errno));
        close(fd);
        return st;
    }
    return NB_OK;
}
