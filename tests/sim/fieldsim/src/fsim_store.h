/* fsim_store.h: durable per-device storage in a state directory.
 *
 *   DIR/unit-<id>.json   the record (version, state, error, counters)
 *   DIR/unit-<id>.img    the staging area (bytes beyond `received` are junk)
 *
 * The same unit id on several endpoints: the second device with it (in
 * command-line order) uses unit-<id>-2.*, the third unit-<id>-3.*, ...
 *
 * The JSON is replaced atomically (write temp, fsync, rename, fsync dir);
 * staged bytes are fdatasync'ed before the record that counts them.
 * fsim_store_set_sync(false) (fieldsim --sync off) drops every fsync: a
 * kill of the process still keeps everything written (the page cache has
 * it), a crash of the machine may not. */
#ifndef FSIM_STORE_H
#define FSIM_STORE_H

#include <stdbool.h>

#include "fsim_dev.h"

struct fsim_store;

extern const struct fsim_store_ops fsim_store_file_ops;

/* Open (creating) the files of one unit; instance counts the earlier
 * devices with the same unit id. 0 or negative errno / GW_E_*. */
int fsim_store_open(const char *dir, uint8_t unit, unsigned instance,
                    struct fsim_store **out);
void fsim_store_free(struct fsim_store *st);

/* Sync writes to disk (the default), or not (fleets too large for one
 * thread to fsync every block: the benchmark). */
void fsim_store_set_sync(bool on);

/* Read the record back. 1 when one was loaded into *rec, 0 when the unit
 * has none yet (factory-fresh), GW_E_CORRUPT when the file is unreadable. */
int fsim_store_load(struct fsim_store *st, struct fsim_record *rec);

#endif
