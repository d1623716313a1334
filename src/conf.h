/* conf.h - placeholder; the module is being written. */
#ifndef ENVOI_CONF_H
#define ENVOI_CONF_H
#endif
