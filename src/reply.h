/* reply.h - placeholder; the module is being written. */
#ifndef ENVOI_REPLY_H
#define ENVOI_REPLY_H
#endif
