/* smtp.c - placeholder. */
#include "config.h"
#include "smtp.h"
