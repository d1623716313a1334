/* message.c - placeholder. */
#include "config.h"
#include "message.h"
