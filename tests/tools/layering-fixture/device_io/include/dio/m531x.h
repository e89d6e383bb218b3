/* m531x.h: fixture header. */
#ifndef FIXTURE_M531X_H
#define FIXTURE_M531X_H
#endif
