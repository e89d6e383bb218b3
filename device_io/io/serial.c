/* serial.c: exclusive raw serial ports. */
#include "dio/serial.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "dio/fd_place.h"

static const struct {
    int baud;
    speed_t speed;
} serial_speeds[] = {
    {1200, B1200},     {2400, B2400},     {4800, B4800},     {9600, B9600},
    {19200, B19200},   {38400, B38400},   {57600, B57600},   {115200, B115200},
    {230400, B230400}, {460800, B460800}, {921600, B921600},
};

static int speed_of(int baud, speed_t *out)
{
    for (size_t i = 0; i < sizeof serial_speeds / sizeof serial_speeds[0];
         i++) {
        if (serial_speeds[i].baud == baud) {
            *out = serial_speeds[i].speed;
            return 0;
        }
    }
    return -EINVAL;
}

int serial_baud_supported(int baud)
{
    speed_t s;

    return speed_of(baud, &s) == 0;
}

int serial_open(const char *path, int baud)
{
    struct termios tio;
    speed_t speed;
    int fd, rc;

    if (speed_of(baud, &speed) != 0)
        return -EINVAL;
    fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    fd = fd_move_high(fd); /* the low range is for select() users */
    if (!isatty(fd)) {
        rc = -ENOTTY;
        goto fail;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
        goto fail;
    }
    if (ioctl(fd, TIOCEXCL) != 0) {
        rc = -errno;
        goto fail;
    }
    if (tcgetattr(fd, &tio) != 0) {
        rc = -errno;
        goto fail;
    }
    cfmakeraw(&tio);
    tio.c_cflag |= CLOCAL | CREAD;
    tio.c_cflag &= ~(tcflag_t)(CRTSCTS | CSTOPB | PARENB);
    tio.c_iflag &= ~(tcflag_t)(IXON | IXOFF | IXANY);
    tio.c_cc[VMIN] = 0;
    tio.c_cc[VTIME] = 0;
    if (cfsetispeed(&tio, speed) != 0 || cfsetospeed(&tio, speed) != 0 ||
        tcsetattr(fd, TCSANOW, &tio) != 0) {
        rc = -errno;
        goto fail;
    }
    tcflush(fd, TCIOFLUSH); /* stale bytes from before we owned it */
    return fd;

fail:
    close(fd);
    return rc;
}

void serial_close(int fd)
{
    if (fd < 0)
        return;
    ioctl(fd, TIOCNXCL);
    close(fd); /* releases the flock */
}
