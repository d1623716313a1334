/* addr.c - placeholder. */
#include "config.h"
#include "addr.h"
