/* device_io io: includes the orchestrator. */
#include <stdio.h>
#include "dio/serial.h"
#include <orch/sota_fsm.h>
