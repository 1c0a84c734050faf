/*
 * version.c — the library's version at run time. With the shared library
 * it can differ from NABLA_VERSION, which is the header the caller was
 * compiled against.
 */
#include "nabla.h"

const char *nb_version(void)
{
    return NABLA_VERSION;
}
