/* tls.c - placeholder. */
#include "config.h"
#include "tls.h"
