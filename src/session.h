/* session.h - placeholder; the module is being written. */
#ifndef ENVOI_SESSION_H
#define ENVOI_SESSION_H
#endif
