/* serial.h: fixture header. */
#ifndef FIXTURE_SERIAL_H
#define FIXTURE_SERIAL_H
#endif
