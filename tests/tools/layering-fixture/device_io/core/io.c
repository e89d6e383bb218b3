/* device_io core: includes its I/O half. */
#include "dio/m531x.h"
#include "gw/err.h"
#include "dio/serial.h"
