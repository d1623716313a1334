/* cred.h - placeholder; the module is being written. */
#ifndef ENVOI_CRED_H
#define ENVOI_CRED_H
#endif
