/* handlers.h: fixture header. */
#ifndef FIXTURE_HANDLERS_H
#define FIXTURE_HANDLERS_H
#endif
