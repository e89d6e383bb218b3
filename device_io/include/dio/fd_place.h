/* dio/fd_place.h: where descriptors live, for a library that waits with
 * select().
 *
 * libmodbus waits for every reply with select(), and an fd_set holds only
 * descriptors below FD_SETSIZE (1024): FD_SET() of a higher one is a
 * buffer overflow that glibc's fortify check turns into an abort of the
 * whole process. A gateway with a thousand modem ttys and a thousand
 * Modbus sockets passes 1024 easily, so descriptors are placed by design:
 *
 *   - long-lived descriptors that no select() user sees (modem ttys,
 *     staging files, the Modbus links themselves) move to FD_SETSIZE and
 *     above right after they are opened (fd_move_high), which keeps the
 *     low range free;
 *   - libmodbus only ever runs on a descriptor number borrowed from a pool
 *     of numbers below FD_SETSIZE (struct fd_slots): for one request, the
 *     slot is pointed at the link with dup3() and pointed back at
 *     /dev/null afterwards. When no number below FD_SETSIZE can be had,
 *     borrowing fails with -EMFILE and the caller reports its device
 *     unreachable; nothing calls into libmodbus with a high descriptor.
 *
 * Thread-safe: the pool is shared by all bus threads. */
#ifndef DIO_FD_PLACE_H
#define DIO_FD_PLACE_H

#include <stdatomic.h>
#include <stdint.h>

/* Move fd to the lowest free number >= FD_SETSIZE (close-on-exec) and
 * close the original. Returns the new number, or fd itself when it is
 * already there or the move is not possible (RLIMIT_NOFILE at or below
 * FD_SETSIZE, or no number free): fd stays valid either way. */
int fd_move_high(int fd);

struct fd_slots;

/* A pool of at most max (1 .. FD_SETSIZE) descriptor numbers below
 * FD_SETSIZE, reserved lazily (a slot is taken when a borrower finds none
 * free) by opening /dev/null. 0, GW_E_RANGE, or -errno. */
int fd_slots_new(struct fd_slots **out, unsigned max);

/* Close every slot. No slot may be borrowed. NULL-safe. */
void fd_slots_free(struct fd_slots *p);

/* Borrow a slot and make it refer to fd's open file (dup3). When every
 * slot is lent, borrowers wait in line: a slot given back goes to the one
 * waiting longest, so a thread that gives one back and asks again at once
 * cannot overtake them. Returns the slot number (< FD_SETSIZE), or:
 *   -EMFILE     no slot is reserved and no number below FD_SETSIZE is
 *               free to reserve one;
 *   -EAGAIN     every slot stayed borrowed until deadline_ms
 *               (gw_now_ms() time base);
 *   -ECANCELED  *quit became nonzero while waiting (fd_slots_wake());
 *   -errno      dup3() failed. */
int fd_slots_get(struct fd_slots *p, int fd, int64_t deadline_ms,
                 const atomic_int *quit);

/* Give slot back. It is pointed at /dev/null first, so it no longer keeps
 * the borrower's file open: closing the borrower's own descriptor really
 * closes the link. */
void fd_slots_put(struct fd_slots *p, int slot);

/* Wake every waiting borrower to look at its quit flag. */
void fd_slots_wake(struct fd_slots *p);

/* Slots reserved now (borrowed or not), and borrowers waiting in line,
 * for logs and tests. */
unsigned fd_slots_count(struct fd_slots *p);
unsigned fd_slots_waiting(struct fd_slots *p);

#endif
