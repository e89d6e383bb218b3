/* server.h: fixture header. */
#ifndef FIXTURE_SERVER_H
#define FIXTURE_SERVER_H
#endif
