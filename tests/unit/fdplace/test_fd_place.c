/* test_fd_place.c: descriptors moved above FD_SETSIZE, and the pool of
 * low slots libmodbus runs on (dio/fd_place.h). The soft RLIMIT_NOFILE is
 * raised for it; a hard limit that does not allow it fails the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pty.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#include "dio/fd_place.h"
#include "dio/serial.h"
#include "gw/err.h"

#define NOFILE_WANT (FD_SETSIZE + 512)

static int raise_limit(void **state)
{
    struct rlimit rl;

    (void)state;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < NOFILE_WANT) {
        if (rl.rlim_max < NOFILE_WANT)
            fail_msg("hard RLIMIT_NOFILE %lu < %d", (unsigned long)rl.rlim_max,
                     NOFILE_WANT);
        rl.rlim_cur = NOFILE_WANT;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void moves_high_and_closes_the_original(void **state)
{
    int fd = open("/dev/null", O_RDONLY), high;

    (void)state;
    assert_true(fd >= 0 && fd < FD_SETSIZE);
    high = fd_move_high(fd);
    assert_true(high >= FD_SETSIZE);
    assert_int_equal(fcntl(fd, F_GETFD), -1); /* original closed */
    assert_int_equal(errno, EBADF);
    assert_true(fcntl(high, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(fd_move_high(high), high); /* already high */
    assert_int_equal(fd_move_high(-1), -1);
    close(high);
}

/* A modem's port lands above FD_SETSIZE, still exclusive and working. */
static void serial_port_opens_high(void **state)
{
    int master, slave, fd;
    char name[64], c = 0;

    (void)state;
    assert_int_equal(openpty(&master, &slave, name, NULL, NULL), 0);
    fd = serial_open(name, 115200);
    assert_true(fd >= FD_SETSIZE);
    assert_int_equal(serial_open(name, 115200), -EBUSY);
    assert_int_equal(write(master, "x", 1), 1);
    for (int i = 0; i < 1000 && read(fd, &c, 1) != 1; i++)
        usleep(1000); /* poll, bounded */
    assert_int_equal(c, 'x');
    serial_close(fd);
    close(slave);
    close(master);
}

/* A borrowed slot is below FD_SETSIZE and refers to the lender's file;
 * given back, it refers to /dev/null and no longer holds that file. */
static void slots_lend_and_give_back(void **state)
{
    struct fd_slots *p;
    int pfd[2], a, b, hr;
    char c = 0;

    (void)state;
    assert_int_equal(fd_slots_new(&p, 0), GW_E_RANGE);
    assert_int_equal(fd_slots_new(&p, FD_SETSIZE + 1), GW_E_RANGE);
    assert_int_equal(fd_slots_new(&p, 2), 0);
    assert_int_equal(fd_slots_count(p), 0); /* reserved on demand */
    assert_int_equal(pipe(pfd), 0);
    hr = fd_move_high(pfd[0]);
    assert_true(hr >= FD_SETSIZE);

    a = fd_slots_get(p, hr, now_ms() + 1000, NULL);
    assert_true(a >= 0 && a < FD_SETSIZE);
    assert_int_equal(write(pfd[1], "y", 1), 1);
    assert_int_equal(read(a, &c, 1), 1); /* the pipe, via the slot */
    assert_int_equal(c, 'y');
    b = fd_slots_get(p, hr, now_ms() + 1000, NULL);
    assert_true(b >= 0 && b < FD_SETSIZE && b != a);
    assert_int_equal(fd_slots_count(p), 2);

    fd_slots_put(p, a);
    assert_int_equal(read(a, &c, 1), 0); /* /dev/null now */
    fd_slots_put(p, b);
    close(hr);
    /* No slot holds the read end: the pipe has no reader any more. */
    signal(SIGPIPE, SIG_IGN);
    assert_int_equal(write(pfd[1], "z", 1), -1);
    assert_int_equal(errno, EPIPE);
    close(pfd[1]);
    assert_int_equal(fd_slots_count(p), 2);
    fd_slots_free(p);
}

/* All slots lent: a borrower gets -EAGAIN at its deadline, -ECANCELED when
 * asked to quit; a slot given back is lent again. */
static void slots_busy_and_quit(void **state)
{
    struct fd_slots *p;
    atomic_int quit;
    int fd = open("/dev/null", O_RDONLY), a;

    (void)state;
    atomic_init(&quit, 0);
    assert_int_equal(fd_slots_new(&p, 1), 0);
    a = fd_slots_get(p, fd, now_ms() + 1000, &quit);
    assert_true(a >= 0);
    assert_int_equal(fd_slots_get(p, fd, now_ms() + 20, &quit), -EAGAIN);
    atomic_store(&quit, 1);
    fd_slots_wake(p);
    assert_int_equal(fd_slots_get(p, fd, now_ms() + 60000, &quit), -ECANCELED);
    atomic_store(&quit, 0);
    fd_slots_put(p, a);
    assert_int_equal(fd_slots_get(p, fd, now_ms() + 1000, &quit), a);
    fd_slots_put(p, a);
    assert_int_equal(fd_slots_count(p), 1);
    fd_slots_free(p);
    close(fd);
}

struct borrower {
    struct fd_slots *p;
    int fd;
    int got;
};

static void *borrow_main(void *arg)
{
    struct borrower *b = arg;

    b->got = fd_slots_get(b->p, b->fd, now_ms() + 60000, NULL);
    return NULL;
}

/* A slot given back goes to the borrower already waiting, not to the
 * thread that gave it back and asks again at once. */
static void slots_in_line(void **state)
{
    struct fd_slots *p;
    struct borrower b;
    pthread_t t;
    int fd = open("/dev/null", O_RDONLY), a, i;

    (void)state;
    assert_int_equal(fd_slots_new(&p, 1), 0);
    a = fd_slots_get(p, fd, now_ms() + 1000, NULL);
    assert_true(a >= 0);
    b = (struct borrower){p, fd, -100};
    assert_int_equal(pthread_create(&t, NULL, borrow_main, &b), 0);
    for (i = 0; i < 10000 && fd_slots_waiting(p) == 0; i++)
        usleep(1000); /* poll, bounded */
    assert_int_equal(fd_slots_waiting(p), 1);
    fd_slots_put(p, a);
    assert_int_equal(fd_slots_get(p, fd, now_ms() + 20, NULL), -EAGAIN);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(b.got, a);
    assert_int_equal(fd_slots_waiting(p), 0);
    fd_slots_put(p, a);
    assert_int_equal(fd_slots_get(p, fd, now_ms() + 1000, NULL), a);
    fd_slots_put(p, a);
    fd_slots_free(p);
    close(fd);
}

/* Every number below FD_SETSIZE taken: no slot can be reserved, -EMFILE at
 * once (nothing to wait for). */
static void slots_none_below_fd_setsize(void **state)
{
    static int dummy[FD_SETSIZE];
    struct fd_slots *p;
    int n = 0, fd;

    (void)state;
    assert_int_equal(fd_slots_new(&p, 8), 0);
    for (;;) {
        fd = open("/dev/null", O_RDONLY);
        assert_true(fd >= 0);
        if (fd >= FD_SETSIZE)
            break;
        dummy[n++] = fd;
    }
    assert_int_equal(fd_slots_get(p, fd, now_ms() + 60000, NULL), -EMFILE);
    assert_int_equal(fd_slots_count(p), 0);
    close(dummy[--n]); /* one number free */
    assert_int_equal(fd_slots_get(p, fd, now_ms() + 1000, NULL), dummy[n]);
    fd_slots_put(p, dummy[n]);
    while (n > 0)
        close(dummy[--n]);
    close(fd);
    fd_slots_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(moves_high_and_closes_the_original),
        cmocka_unit_test(serial_port_opens_high),
        cmocka_unit_test(slots_lend_and_give_back),
        cmocka_unit_test(slots_busy_and_quit),
        cmocka_unit_test(slots_in_line),
        cmocka_unit_test(slots_none_below_fd_setsize),
    };

    return cmocka_run_group_tests(tests, raise_limit, NULL);
}
