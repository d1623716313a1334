/* bounce.h - placeholder; the module is being written. */
#ifndef ENVOI_BOUNCE_H
#define ENVOI_BOUNCE_H
#endif
