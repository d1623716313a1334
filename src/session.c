/* session.c - placeholder. */
#include "config.h"
#include "session.h"
