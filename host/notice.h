/*
 * notice.h — telling the application something while a call runs
 * (private). The library never prints; it hands one line to the handler
 * set with nb_set_notice_handler, if any.
 */
#ifndef NB_NOTICE_H
#define NB_NOTICE_H

#include "status.h"

/* Format one line (no newline) and pass it to the handler; nothing
 * happens without one. */
void nb_notice(const char *fmt, ...) NB_PRINTF(1, 2);

#endif
