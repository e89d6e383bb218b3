/* staging.h: the staged image of one job, and the chunk records that say
 * which part of it is durable.
 *
 * One file per job, app->staging_dir/<name> (the worker names it
 * <imei>-<job id>.img). Chunks are written at their offset with pwrite();
 * the file is first cut to that offset, so a failed or re-sent chunk never
 * leaves bytes behind it. Each chunk is recorded (index, offset, length,
 * CRC-32, msgid) with db_chunk_append() inside the open group transaction
 * (db_group_begin), and the file is noted dirty for the group commit
 * (app.h): the caller acknowledges the chunk only after that commit.
 *
 * Recovery (after a restart, a crash or a power cut): staging_recover()
 * walks the records in index order, checks that they tile the file from
 * offset 0 and that each chunk's bytes on disk still have the recorded
 * CRC-32, and cuts the file and the records at the first chunk that does
 * not. What is left is durable and verified: its byte count and the msgid of
 * its last chunk are what the SOTA checkpoint may report (protocol
 * docs/M531X-REFERENCE.md 3.4: N never exceeds what is durably stored).
 *
 * Space: a chunk that would leave less than min_free_kib free on the
 * staging file system fails with -ENOSPC, like a full disk.
 *
 * Loop thread only (it uses app->db). */
#ifndef SOTAGW_STAGING_H
#define SOTAGW_STAGING_H

#include <stddef.h>
#include <stdint.h>

#include "app.h"

#define STAGING_NAME_MAX 96

struct staging;

struct staging_recovered {
    uint32_t bytes;      /* verified durable bytes */
    int32_t last_msgid;  /* msgid of the last good chunk, -1 none */
    uint32_t chunks;     /* good chunk records kept */
    uint32_t dropped;    /* records cut (bad CRC, gap, missing bytes) */
    int file_missing;    /* the file was not there (created empty) */
    uint64_t file_bytes; /* size of the file before the cut */
};

/* Open (create if missing) the staging file `name` under app->staging_dir
 * (created if missing) for job_id, and load the job's chunk records. Call
 * staging_recover() before writing. name: 1..STAGING_NAME_MAX-1 characters,
 * no '/'. Returns 0, GW_E_INVAL for a bad name, -errno, or a db error. */
int staging_open(struct staging **out, struct app *app, int64_t job_id,
                 const char *name, uint64_t min_free_kib);

/* Close the file (its pending sync is done now). NULL-safe. */
void staging_free(struct staging *st);

/* Verify and cut, as described above. Idempotent. */
int staging_recover(struct staging *st, struct staging_recovered *out);

/* Store one chunk at offset. offset must be a chunk boundary at or before
 * the end of what is recorded (0 <= offset <= staging_bytes(); a lower
 * offset drops the chunks from there on first). len 1..DB_CHUNK_MAX.
 * Returns 0 (the bytes are written, recorded in the open group, and the
 * file is noted dirty), GW_E_RANGE for an offset that is no boundary or a
 * bad length, -ENOSPC (disk full or the reserve reached), -errno for a
 * write error, or a db error. On failure the file is cut back to offset
 * and no record is added. */
int staging_write(struct staging *st, uint32_t offset, const uint8_t *data,
                  size_t len, int32_t msgid);

/* Drop everything: the file is cut to 0 and the records deleted (in the
 * open group). */
int staging_reset(struct staging *st);

/* Bytes recorded (written in this process or recovered). */
uint32_t staging_bytes(const struct staging *st);

/* The file's path, for the image check and the flash. */
const char *staging_path(const struct staging *st);

/* What this job may stage in total, in KiB: the free space of the staging
 * file system minus the reserve, plus what the job already holds. */
int staging_capacity_kib(const struct staging *st, int64_t *out);

/* The same for a job that has no file yet. */
int staging_dir_capacity_kib(const char *dir, uint64_t min_free_kib,
                             int64_t *out);

#endif
