/* cred.c - placeholder. */
#include "config.h"
#include "cred.h"
