/* exact_copy.h: test inputs in heap blocks of exactly their length, with
 * no NUL after them, so that ASan reports any read past the end. */
#ifndef M531X_TEST_EXACT_COPY_H
#define M531X_TEST_EXACT_COPY_H

#include <stddef.h>

/* A malloc'ed copy of n bytes of s (n may be 0); aborts on OOM. */
char *exact_copy(const char *s, size_t n);

#endif
