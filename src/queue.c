/* queue.c - placeholder. */
#include "config.h"
#include "queue.h"
