/* net.c - placeholder. */
#include "config.h"
#include "net.h"
