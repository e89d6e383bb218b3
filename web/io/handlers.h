/* handlers.h: the route handlers (handlers.c). */
#ifndef WEB_IO_HANDLERS_H
#define WEB_IO_HANDLERS_H

#include "web_io.h"

/* Run the handler of r's matched route; the answer is left in a. */
void web__handle(struct web_req *r, struct web_answer *a);

#endif
