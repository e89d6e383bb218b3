/* db: another folder's private header. */
#include "gw/err.h"
#include "app.h"
