/* bounce.c - placeholder. */
#include "config.h"
#include "bounce.h"
