/* doc.h: the documents both the handlers and the stream serve (doc.c). */
#ifndef WEB_IO_DOC_H
#define WEB_IO_DOC_H

#include "web_io.h"

/* The shaping options of a request: personal fields or not, the wall
 * clock, the server's overdue limit. */
void web__shape_opts(struct web_server *s, int personal,
                     struct web_shape_opts *o);

/* The device's current job: the unfinished one, else the latest. */
int web__device_job(struct db *db, const char *imei, struct db_job *out);

/* The document of one device as GET /devices/{imei} serves it. */
int web__device_doc(struct web_server *s, struct db *db,
                    const struct db_device *d, const struct web_live *live,
                    int personal, json_t **out);

/* qsort/bsearch order of live records: by IMEI. */
int web__live_cmp(const void *a, const void *b);

/* The newest event id (0: none). The events repository pages forward
 * only; ids only grow, so a bisection over the cursor finds it in about
 * 53 indexed lookups. */
int web__newest_event(struct db *db, int64_t *out);

#endif
