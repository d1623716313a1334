/* addr.h - placeholder; the module is being written. */
#ifndef ENVOI_ADDR_H
#define ENVOI_ADDR_H
#endif
