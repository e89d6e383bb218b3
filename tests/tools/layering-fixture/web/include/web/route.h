/* route.h: fixture header. */
#ifndef FIXTURE_ROUTE_H
#define FIXTURE_ROUTE_H
#endif
