/* smtp.h - placeholder; the module is being written. */
#ifndef ENVOI_SMTP_H
#define ENVOI_SMTP_H
#endif
