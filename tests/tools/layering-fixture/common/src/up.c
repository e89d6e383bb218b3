/* common: includes another layer. */
#include "gw/err.h"
#include "dio/m531x.h"
