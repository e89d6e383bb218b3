/* err.h: fixture header. */
#ifndef FIXTURE_ERR_H
#define FIXTURE_ERR_H
#endif
