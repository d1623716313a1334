/* net.h - placeholder; the module is being written. */
#ifndef ENVOI_NET_H
#define ENVOI_NET_H
#endif
