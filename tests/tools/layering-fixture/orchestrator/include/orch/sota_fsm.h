/* sota_fsm.h: fixture header. */
#ifndef FIXTURE_SOTA_FSM_H
#define FIXTURE_SOTA_FSM_H
#endif
