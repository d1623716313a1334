/* reply.c - placeholder. */
#include "config.h"
#include "reply.h"
