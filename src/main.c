/* main.c - placeholder until the phases exist. */
#include "config.h"
#include <stdio.h>
int main(void) { puts("envoi " PACKAGE_VERSION); return 0; }
