/* web_backend.h: the daemon's implementation of web/backend.h. Created and
 * closed on the loop thread; its ops are called from web threads. Stop the
 * web server before web_backend_close(). */
#ifndef SOTAGW_WEB_BACKEND_H
#define SOTAGW_WEB_BACKEND_H

#include "app.h"
#include "web/backend.h"

struct web_backend;

extern const struct web_backend_ops web_backend_daemon_ops;

int web_backend_new(struct web_backend **out, struct app *app);

/* Close the loop handle; the struct is freed by the loop. NULL-safe. */
void web_backend_close(struct web_backend *wb);

#endif
