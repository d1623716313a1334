/* queue.h - placeholder; the module is being written. */
#ifndef ENVOI_QUEUE_H
#define ENVOI_QUEUE_H
#endif
