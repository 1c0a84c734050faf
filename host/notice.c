/*
 * notice.c — the process-wide notice handler (nb_set_notice_handler).
 *
 * The handler and its user pointer are one pair: they are set and read
 * together under a mutex, so a notice never reaches a handler with
 * another handler's pointer. The handler itself runs outside the lock, so
 * it may take its time, or even set another handler.
 */
#include "notice.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static nb_notice_fn handler;
static void *handler_user;

void nb_set_notice_handler(nb_notice_fn fn, void *user)
{
    pthread_mutex_lock(&lock);
    handler = fn;
    handler_user = fn ? user : NULL;
    pthread_mutex_unlock(&lock);
}

void nb_notice(const char *fmt, ...)
{
    pthread_mutex_lock(&lock);
    nb_notice_fn fn = handler;
    void *user = handler_user;
    pthread_mutex_unlock(&lock);
    if (!fn) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fn(user, line);
}
