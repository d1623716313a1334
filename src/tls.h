/* tls.h - placeholder; the module is being written. */
#ifndef ENVOI_TLS_H
#define ENVOI_TLS_H
#endif
