/* clock.h: fixture header. */
#ifndef FIXTURE_CLOCK_H
#define FIXTURE_CLOCK_H
#endif
