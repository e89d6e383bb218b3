/* orch/sota_resume.h: the SOTA checkpoint a stored job resumes from.
 *
 * Pure. After a restart the shell loads the device's unfinished job and
 * verifies its staged image against the chunk records (the bytes it can
 * trust and the msgid of the last of them); this decides where the machine
 * starts (orch/sota_fsm.h, sota_fsm_init):
 *   - a download resumes at the verified bytes; when they are the whole
 *     image (a stop between the last chunk's commit and the next
 *     checkpoint) it resumes at the check instead, since state 1 with
 *     every byte reads to the platform as a download from 0;
 *   - a check or a flash needs the whole image: when bytes were lost the
 *     download resumes for the rest;
 *   - a confirmation keeps the result, and the version the device now runs
 *     after a success.
 * The fields are the job row's (db/db_jobs.h), given here as plain values:
 * the core does not see the database. */
#ifndef ORCH_SOTA_RESUME_H
#define ORCH_SOTA_RESUME_H

#include <stdint.h>

#include "orch/sota_fsm.h"

/* The job row's phase. */
enum sota_job_phase {
    SOTA_JOB_DOWNLOAD,
    SOTA_JOB_CHECK,
    SOTA_JOB_FLASH,
    SOTA_JOB_CONFIRM,
    SOTA_JOB_DONE,  /* final: nothing to resume */
    SOTA_JOB_FAILED /* final: nothing to resume */
};

struct sota_stored_job {
    enum sota_job_phase phase;
    int oma_result;        /* 5/0/5 last recorded; outside 0..SOTA_RESULT_MAX
                              it is taken as 0 (initial) */
    int64_t image_size;    /* recorded with the last chunk or by the check;
                              <= 0 when unknown */
    const char *version;   /* the version the job installs, NULL when not
                              known */
    uint32_t staged_bytes; /* the verified prefix of the staged image */
    int32_t staged_last_msgid; /* msgid of its last chunk, -1 none */
};

/* Build *out from job. 0 on success. GW_E_INVAL for a NULL argument or an
 * unknown phase; GW_E_CORRUPT when the job cannot be resumed (a version
 * longer than M531X_VERSION_MAX, or a checkpoint sota_checkpoint_validate()
 * refuses with image_max, e.g. a final job with staged bytes). On failure
 * *out is the idle checkpoint (sota_checkpoint_init). */
int sota_checkpoint_from_job(const struct sota_stored_job *job,
                             uint32_t image_max, struct sota_checkpoint *out);

#endif
