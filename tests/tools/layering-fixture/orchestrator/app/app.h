/* app.h: fixture header. */
#ifndef FIXTURE_APP_H
#define FIXTURE_APP_H
#endif
