/* db/db_jobs.h: upgrade jobs (one row per attempt) and their chunk
 * records (the `progress` table).
 *
 * A job belongs to a device (its IMEI) and names the version it installs.
 * Its phase moves download -> check -> flash -> confirm -> done, or to
 * failed from any phase; the state machine decides the moves, the schema
 * only refuses to leave done or failed (GW_E_STATE) and allows one
 * unfinished job per device (a second one is -EEXIST).
 *
 * Chunk records say which part of the staging file is durable: chunk idx
 * covers [offset, offset + length) with the given CRC-32, delivered in the
 * platform message msgid. On restart the daemon verifies the staged prefix
 * chunk by chunk and cuts the records after the last good one with
 * db_chunk_truncate(). */
#ifndef DB_DB_JOBS_H
#define DB_DB_JOBS_H

#include <stddef.h>
#include <stdint.h>

#include "db/db.h"
#include "db/db_devices.h"

#define DB_MD5_HEX     32
#define DB_SHA256_HEX  64
#define DB_STAGING_MAX 255
#define DB_REASON_MAX  255
#define DB_CHUNK_MAX   65536 /* longest chunk record, bytes */

enum db_job_phase {
    DB_JOB_DOWNLOAD, /* receiving the image from the platform */
    DB_JOB_CHECK,    /* image complete, digests being checked */
    DB_JOB_FLASH,    /* writing the image to the field device */
    DB_JOB_CONFIRM,  /* waiting for the device/platform to confirm */
    DB_JOB_DONE,     /* final: success */
    DB_JOB_FAILED    /* final: see reason */
};

struct db_job {
    int64_t id; /* set by db_job_create() */
    char imei[DB_IMEI_LEN + 1];
    int64_t package_id;               /* 0: none (or package removed) */
    char version[DB_VERSION_MAX + 1]; /* target version, 1..32 chars */
    enum db_job_phase phase;
    int oma_state;                  /* 5/0/3 value last reported, 0..255 */
    int oma_result;                 /* 5/0/5 value last reported, 0..255 */
    int64_t bytes_durable;          /* image bytes durable in staging */
    int64_t image_size;             /* -1 unknown */
    char md5[DB_MD5_HEX + 1];       /* lower-case hex, "" unknown */
    char sha256[DB_SHA256_HEX + 1]; /* lower-case hex, "" unknown */
    char staging_file[DB_STAGING_MAX + 1]; /* name under state_dir */
    int64_t last_msgid;                    /* last msgid stored, -1 none */
    int64_t flash_acked;                   /* bytes the field device acked */
    int attempt;                           /* 1 for the first attempt */
    int retries;                           /* retries inside this attempt */
    int64_t created_ms;
    int64_t started_ms;             /* 0: not yet */
    int64_t progress_ms;            /* last progress, 0: none */
    int64_t ended_ms;               /* 0: not yet */
    char reason[DB_REASON_MAX + 1]; /* why it ended (or "") */
};

struct db_chunk {
    int64_t job_id;
    uint32_t index;  /* 0, 1, 2... */
    int64_t offset;  /* in the image */
    uint32_t length; /* 1..DB_CHUNK_MAX */
    uint32_t crc32;  /* zlib crc32() of the chunk's bytes */
    int64_t msgid;   /* platform msgid of the +MIPLWRITE, -1 unknown */
};

const char *db_job_phase_name(enum db_job_phase p);
int db_job_phase_final(enum db_job_phase p);

/* Insert a job from j's imei, package_id, version, image_size, md5,
 * sha256, staging_file, attempt and created_ms; every other field starts
 * at its default (phase download, counters 0, last_msgid -1). On success
 * j->id and the defaults are filled in. GW_E_NOTFOUND: no such device;
 * -EEXIST: the device has an unfinished job. */
int db_job_create(struct db *db, struct db_job *j);

/* Read a job. GW_E_NOTFOUND when absent. */
int db_job_get(struct db *db, int64_t id, struct db_job *out);

/* The device's unfinished job, GW_E_NOTFOUND when it has none. */
int db_job_active(struct db *db, const char *imei, struct db_job *out);

/* Write every mutable field of j (all but id, imei, created_ms). reason is
 * truncated to DB_REASON_MAX bytes at a UTF-8 boundary (it is free text
 * the daemon composes, often from a modem's reply; a long reason must not
 * cost the update). GW_E_STATE: leaving done or failed; GW_E_NOTFOUND. */
int db_job_update(struct db *db, const struct db_job *j);

/* The hot path while downloading: bytes_durable, last_msgid and
 * progress_ms only. GW_E_NOTFOUND when no such job. */
int db_job_progress(struct db *db, int64_t id, int64_t bytes_durable,
                    int64_t last_msgid, int64_t now_ms);

/* Jobs in id order after the cursor after_id (0 from the start); imei NULL
 * for all devices. At most cap rows; *n gets the count. */
int db_job_list(struct db *db, const char *imei, int64_t after_id,
                struct db_job *out, size_t cap, size_t *n);

/* Append a chunk record. -EEXIST when the index is already recorded;
 * GW_E_NOTFOUND when the job does not exist; GW_E_RANGE for a zero or
 * over-long length or a negative offset. */
int db_chunk_append(struct db *db, const struct db_chunk *c);

/* Chunk records of a job in index order, starting at index `from`. */
int db_chunk_list(struct db *db, int64_t job_id, uint32_t from,
                  struct db_chunk *out, size_t cap, size_t *n);

/* Delete the records with index >= from (from 0: all). *deleted (may be
 * NULL) gets how many went. */
int db_chunk_truncate(struct db *db, int64_t job_id, uint32_t from,
                      size_t *deleted);

#endif
