/*
 * gradcheck.c — backprop against finite differences (being written).
 */
#include "nabla.h"
