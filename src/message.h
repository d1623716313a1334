/* message.h - placeholder; the module is being written. */
#ifndef ENVOI_MESSAGE_H
#define ENVOI_MESSAGE_H
#endif
