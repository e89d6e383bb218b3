/* sup.h: the supervisor. Finds modems and keeps one worker per modem.
 *
 * Discovery: the configured globs ([modems] ports) are re-scanned every
 * scan interval, because a pty (the simulator) has no udev event; a libudev
 * monitor on the "tty" subsystem triggers an immediate scan on add/remove.
 * A matched path with no worker gets one (worker_start opens the port
 * exclusively, so a port another process holds is skipped and retried on
 * the next scan, with a warning once).
 *
 * Identity: workers report the IMEI (worker_ops.identified); the device row
 * is keyed on it, so a modem that comes back on another ttyUSB number or
 * hub port keeps its progress. A second port answering with an IMEI already
 * served is refused (two ports of one module, or a cloned IMEI).
 *
 * USB location: from the /dev/serial/by-path name or from sysfs (the
 * tty's device ancestors), recorded for the dashboard and the per-hub
 * download budget.
 *
 * Restarts: a worker that ends FAILED is started again after a capped
 * exponential backoff (policy retry_backoff_min_s doubling up to
 * retry_backoff_max_s, reset after a worker has run cleanly for a while);
 * UNPLUGGED waits for the path to reappear; STOPPED is not restarted. */
#ifndef SOTAGW_SUP_H
#define SOTAGW_SUP_H

#include <stddef.h>

#include "app.h"
#include "worker.h"

struct sup;

int sup_new(struct sup **out, struct app *app);

/* Scan now, then on the interval. */
int sup_start(struct sup *s);

/* Stop every worker cleanly; done() runs on the loop when all have
 * exited. */
void sup_stop(struct sup *s, void (*done)(void *ctx), void *ctx);

void sup_free(struct sup *s);

/* The config was reloaded (SIGHUP): new globs and targets apply to new
 * workers and at the next bring-up. */
void sup_config_changed(struct sup *s);

/* Parse a USB location from a /dev/serial/by-path name: the device's port
 * chain minus its last element names the hub, the last element is the port
 * ("pci-0000:00:14.0-usb-0:1.2.3:1.0-port0" -> hub
 * "pci-0000:00:14.0-usb-0:1.2", port 3).
 * Returns 0, or GW_E_INVAL when the name carries no USB path. Pure. */
int sup_location_from_by_path(const char *name, struct usb_location *out);

/* Visit every worker (status, web). */
void sup_foreach(struct sup *s, void (*fn)(void *ctx, struct worker *w),
                 void *ctx);

#endif
