/* web/io: a lower file includes a higher one. */
#include "doc.h"
#include "handlers.h"
#include "web/route.h"
