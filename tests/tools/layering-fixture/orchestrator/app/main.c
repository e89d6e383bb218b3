/* orchestrator app: may include everything. */
#include "app.h"
#include "dio/serial.h"
#include "gw/clock.h"
#include "orch/config.h"
#include "web/server.h"
