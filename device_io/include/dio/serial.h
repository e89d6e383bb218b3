/* dio/serial.h: open a modem's serial port for sotagw's exclusive use.
 *
 * The port is opened non-blocking, without becoming the controlling
 * terminal, in raw 8N1 mode at the given speed, with hardware flow control
 * off. Exclusivity is taken twice, because either alone has a hole:
 * flock(LOCK_EX) keeps out other sotagw instances and well-behaved tools
 * (ModemManager honours it), TIOCEXCL makes the kernel refuse any further
 * open() of the tty by non-root processes. The descriptor is placed at
 * FD_SETSIZE or above when the limit allows (dio/fd_place.h): a gateway
 * has many modems, and the low range is kept for libmodbus. */
#ifndef DIO_SERIAL_H
#define DIO_SERIAL_H

/* Open path. Returns the fd, or -errno: -EBUSY when another process holds
 * the port, -EINVAL for an unsupported baud rate, -ENOTTY when path is not
 * a terminal. */
int serial_open(const char *path, int baud);

/* Is baud one of the rates serial_open accepts (1200 .. 921600)? */
int serial_baud_supported(int baud);

void serial_close(int fd);

#endif
