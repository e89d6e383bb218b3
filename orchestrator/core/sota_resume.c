/* sota_resume.c: the checkpoint of a stored job (orch/sota_resume.h). */
#include "orch/sota_resume.h"

#include <string.h>

#include "gw/err.h"

static int phase_of(enum sota_job_phase p, enum sota_phase *out)
{
    switch (p) {
    case SOTA_JOB_DOWNLOAD: *out = SOTA_PHASE_DOWNLOADING; return 0;
    case SOTA_JOB_CHECK: *out = SOTA_PHASE_CHECKING; return 0;
    case SOTA_JOB_FLASH: *out = SOTA_PHASE_FLASHING; return 0;
    case SOTA_JOB_CONFIRM: *out = SOTA_PHASE_DONE; return 0;
    case SOTA_JOB_DONE:
    case SOTA_JOB_FAILED: *out = SOTA_PHASE_IDLE; return 0;
    }
    return GW_E_INVAL;
}

int sota_checkpoint_from_job(const struct sota_stored_job *job,
                             uint32_t image_max, struct sota_checkpoint *out)
{
    struct sota_checkpoint cp;
    int whole;
    int rc;

    if (out == NULL)
        return GW_E_INVAL;
    sota_checkpoint_init(out);
    if (job == NULL)
        return GW_E_INVAL;
    sota_checkpoint_init(&cp);
    rc = phase_of(job->phase, &cp.phase);
    if (rc < 0)
        return rc;
    cp.result = job->oma_result >= 0 && job->oma_result <= SOTA_RESULT_MAX
                    ? (enum sota_result)job->oma_result
                    : SOTA_RESULT_INITIAL;
    cp.bytes = job->staged_bytes;
    cp.last_msgid = job->staged_last_msgid;
    whole = job->image_size > 0 && job->image_size == job->staged_bytes;

    if (cp.phase == SOTA_PHASE_DOWNLOADING && whole)
        cp.phase = SOTA_PHASE_CHECKING; /* stopped after the last chunk */
    if (cp.phase == SOTA_PHASE_CHECKING || cp.phase == SOTA_PHASE_FLASHING) {
        if (whole)
            cp.image_size = job->staged_bytes;
        else
            cp.phase = SOTA_PHASE_DOWNLOADING; /* bytes lost: the rest */
    }
    if (cp.phase == SOTA_PHASE_DONE) {
        cp.image_size = job->staged_bytes;
        if (cp.result == SOTA_RESULT_SUCCESS && job->version != NULL) {
            size_t n = strnlen(job->version, sizeof cp.new_version);

            if (n == sizeof cp.new_version)
                return GW_E_CORRUPT;
            memcpy(cp.new_version, job->version, n + 1);
        }
    }
    rc = sota_checkpoint_validate(&cp, image_max);
    if (rc < 0)
        return rc;
    *out = cp;
    return 0;
}
