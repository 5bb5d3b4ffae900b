#ifndef TUOYU_CLIBPQ_SHIM_H
#define TUOYU_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
