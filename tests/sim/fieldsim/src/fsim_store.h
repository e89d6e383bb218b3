/* fsim_store.h: durable per-device storage in a state directory.
 *
 *   DIR/unit-<id>.json   the record (version, state, error, counters)
 *   DIR/unit-<id>.img    the staging area (bytes beyond `received` are junk)
 *
 * The same unit id on several endpoints: the second device with it (in
 * command-line order) uses unit-<id>-2.*, the third unit-<id>-3.*, ...
 *
 * The JSON is replaced atomically (write temp, fsync, rename, fsync dir);
 * staged bytes are fdatasync'ed before the record that counts them. */
#ifndef FSIM_STORE_H
#define FSIM_STORE_H

#include "fsim_dev.h"

struct fsim_store;

extern const struct fsim_store_ops fsim_store_file_ops;

/* Open (creating) the files of one unit; instance counts the earlier
 * devices with the same unit id. 0 or negative errno / GW_E_*. */
int fsim_store_open(const char *dir, uint8_t unit, unsigned instance,
                    struct fsim_store **out);
void fsim_store_free(struct fsim_store *st);

/* Read the record back. 1 when one was loaded into *rec, 0 when the unit
 * has none yet (factory-fresh), GW_E_CORRUPT when the file is unreadable. */
int fsim_store_load(struct fsim_store *st, struct fsim_record *rec);

#endif
