/* sasl.h - placeholder; the module is being written. */
#ifndef ENVOI_SASL_H
#define ENVOI_SASL_H
#endif
