/* test_serial.c: exclusive raw serial ports, on a pty pair. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "dio/serial.h"

static void opens_raw_and_exclusive(void **state)
{
    int master, slave, fd, fd2;
    char name[64];
    char buf[16];
    struct termios tio;
    struct pollfd p;

    (void)state;
    assert_int_equal(openpty(&master, &slave, name, NULL, NULL), 0);
    fd = serial_open(name, 115200);
    assert_true(fd >= 0);
    assert_int_equal(tcgetattr(fd, &tio), 0);
    assert_int_equal(cfgetospeed(&tio), B115200);
    assert_int_equal(tio.c_lflag & (ICANON | ECHO), 0);

    /* bytes pass unchanged in both directions: no CR/LF translation */
    assert_int_equal(write(master, "OK\r\n", 4), 4);
    p = (struct pollfd){.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 1000), 1);
    assert_int_equal(read(fd, buf, sizeof buf), 4);
    assert_memory_equal(buf, "OK\r\n", 4);
    assert_int_equal(write(fd, "AT\r", 3), 3);
    p = (struct pollfd){.fd = master, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 1000), 1);
    assert_int_equal(read(master, buf, sizeof buf), 3);
    assert_memory_equal(buf, "AT\r", 3);

    /* a second opener is refused while we hold it (flock; TIOCEXCL only
     * binds non-root processes, and tests may run as root) */
    fd2 = serial_open(name, 115200);
    assert_int_equal(fd2, -EBUSY);
    serial_close(fd);
    fd2 = serial_open(name, 115200);
    assert_true(fd2 >= 0);
    serial_close(fd2);
    close(slave);
    close(master);
}

static void rejects_bad_input(void **state)
{
    (void)state;
    assert_int_equal(serial_open("/nonexistent/ttyX", 9600), -ENOENT);
    assert_int_equal(serial_open("/dev/null", 9600), -ENOTTY);
    assert_int_equal(serial_open("/dev/null", 12345), -EINVAL);
    assert_true(serial_baud_supported(9600));
    assert_false(serial_baud_supported(0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(opens_raw_and_exclusive),
        cmocka_unit_test(rejects_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
