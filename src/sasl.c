/* sasl.c - placeholder. */
#include "config.h"
#include "sasl.h"
