/* cli.h - placeholder; the module is being written. */
#ifndef ENVOI_CLI_H
#define ENVOI_CLI_H
#endif
