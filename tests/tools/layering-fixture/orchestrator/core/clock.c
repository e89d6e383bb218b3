/* orchestrator core: reads the clock. */
#include "dio/m531x.h"
#include "gw/clock.h"
#include "orch/config.h"
