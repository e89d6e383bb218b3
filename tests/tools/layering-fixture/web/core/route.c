/* web core: includes the orchestrator and web/io. */
#include "dio/m531x.h"
#include "orch/config.h"
#include "web/route.h"
#include "web/server.h"
