/* stream.h: GET /api/v1/stream, server-sent events (stream.c). */
#ifndef WEB_IO_STREAM_H
#define WEB_IO_STREAM_H

#include "web_io.h"

/* Start and stop the poller thread (the server's start and stop). */
int web__stream_start(struct web_server *s);
void web__stream_stop(struct web_server *s);

/* A response that streams to one client; NULL when the client limit is
 * reached or memory is short. */
struct MHD_Response *web__stream_response(struct web_server *s);

#endif
