/*
 * fileio.h — opening the files nabla reads (private).
 *
 * Every loader reads a path the user named, which may be anything: a
 * FIFO would block open() until a writer comes (forever, from a script),
 * a directory or a device has no content to load. These helpers refuse
 * all of them at once with a message naming the path and what it is.
 */
#ifndef NB_FILEIO_H
#define NB_FILEIO_H

#include <stdint.h>
#include <stdio.h>

#include "nabla.h"

/*
 * Open path for reading if it is a regular file. On success *fd is a
 * blocking, close-on-exec descriptor and *size the file's size in bytes.
 * Fails with NB_ERR_IO: "call: path: cannot open: reason", or
 * "call: path: not a regular file (a FIFO)" (a directory, a device, a
 * socket), never blocking on the way.
 */
nb_status nb_open_input(const char *call, const char *path, int *fd, uint64_t *size);

/* The same as a stdio stream for binary reading; *size may be NULL. */
nb_status nb_fopen_input(const char *call, const char *path, FILE **f, uint64_t *size);

#endif
