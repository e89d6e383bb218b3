/* doc.h: fixture header. */
#ifndef FIXTURE_DOC_H
#define FIXTURE_DOC_H
#endif
