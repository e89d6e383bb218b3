/* a file the web/io table does not list. */
#include "doc.h"
