/* test_sota_resume.c: the checkpoint a stored job resumes from
 * (orch/sota_resume.h), one table row per case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gw/err.h"
#include "orch/sota_resume.h"

#define IMAGE_MAX (16u * 1024 * 1024)

struct resume_case {
    const char *name;
    struct sota_stored_job job;
    int rc;
    struct sota_checkpoint want; /* compared when rc == 0 */
};

#define JOB(ph_, res_, size_, ver_, bytes_, msgid_)                            \
    {                                                                          \
        .phase = (ph_), .oma_result = (res_), .image_size = (size_),           \
        .version = (ver_), .staged_bytes = (bytes_),                           \
        .staged_last_msgid = (msgid_)                                          \
    }
#define CP(ph_, res_, bytes_, msgid_, size_, ver_)                             \
    {                                                                          \
        .phase = (ph_), .result = (res_), .bytes = (bytes_),                   \
        .last_msgid = (msgid_), .image_size = (size_), .new_version = ver_     \
    }
#define OK(n, job_, cp_)                                                       \
    {                                                                          \
        .name = (n), .job = job_, .rc = 0, .want = cp_                         \
    }
#define BAD(n, job_, rc_)                                                      \
    {                                                                          \
        .name = (n), .job = job_, .rc = (rc_)                                  \
    }

static const struct resume_case cases[] = {
    /* ---- a download ----------------------------------------------------- */
    OK("download_resumes_at_verified_bytes",
       JOB(SOTA_JOB_DOWNLOAD, 0, -1, NULL, 7168, 27502),
       CP(SOTA_PHASE_DOWNLOADING, SOTA_RESULT_INITIAL, 7168, 27502, 0, "")),
    OK("download_nothing_staged", JOB(SOTA_JOB_DOWNLOAD, 0, -1, NULL, 0, -1),
       CP(SOTA_PHASE_DOWNLOADING, SOTA_RESULT_INITIAL, 0, -1, 0, "")),
    OK("download_with_the_whole_image_resumes_at_the_check",
       JOB(SOTA_JOB_DOWNLOAD, 0, 13658, NULL, 13658, 27509),
       CP(SOTA_PHASE_CHECKING, SOTA_RESULT_INITIAL, 13658, 27509, 13658, "")),
    OK("download_size_known_bytes_short",
       JOB(SOTA_JOB_DOWNLOAD, 0, 13658, NULL, 7168, 27502),
       CP(SOTA_PHASE_DOWNLOADING, SOTA_RESULT_INITIAL, 7168, 27502, 0, "")),
    /* ---- a check or a flash needs the whole image ------------------------ */
    OK("check_whole_image", JOB(SOTA_JOB_CHECK, 0, 13658, NULL, 13658, 27509),
       CP(SOTA_PHASE_CHECKING, SOTA_RESULT_INITIAL, 13658, 27509, 13658, "")),
    OK("check_lost_bytes_downloads_the_rest",
       JOB(SOTA_JOB_CHECK, 0, 13658, NULL, 6144, 27501),
       CP(SOTA_PHASE_DOWNLOADING, SOTA_RESULT_INITIAL, 6144, 27501, 0, "")),
    OK("check_size_unknown_downloads_again",
       JOB(SOTA_JOB_CHECK, 0, -1, NULL, 13658, 27509),
       CP(SOTA_PHASE_DOWNLOADING, SOTA_RESULT_INITIAL, 13658, 27509, 0, "")),
    OK("flash_whole_image", JOB(SOTA_JOB_FLASH, 0, 4096, "1.2.0", 4096, 9),
       CP(SOTA_PHASE_FLASHING, SOTA_RESULT_INITIAL, 4096, 9, 4096, "")),
    OK("flash_lost_bytes_downloads_the_rest",
       JOB(SOTA_JOB_FLASH, 0, 4096, NULL, 1024, 6),
       CP(SOTA_PHASE_DOWNLOADING, SOTA_RESULT_INITIAL, 1024, 6, 0, "")),
    OK("flash_nothing_staged_downloads_again",
       JOB(SOTA_JOB_FLASH, 0, 4096, NULL, 0, -1),
       CP(SOTA_PHASE_DOWNLOADING, SOTA_RESULT_INITIAL, 0, -1, 0, "")),
    /* ---- a confirmation ------------------------------------------------- */
    OK("confirm_success_keeps_the_new_version",
       JOB(SOTA_JOB_CONFIRM, 1, 4096, "1.2.0", 4096, 9),
       CP(SOTA_PHASE_DONE, SOTA_RESULT_SUCCESS, 4096, 9, 4096, "1.2.0")),
    OK("confirm_success_version_unknown",
       JOB(SOTA_JOB_CONFIRM, 1, 4096, NULL, 4096, 9),
       CP(SOTA_PHASE_DONE, SOTA_RESULT_SUCCESS, 4096, 9, 4096, "")),
    OK("confirm_failure_reports_no_version",
       JOB(SOTA_JOB_CONFIRM, 8, 4096, "1.2.0", 4096, 9),
       CP(SOTA_PHASE_DONE, SOTA_RESULT_UPDATE_FAILED, 4096, 9, 4096, "")),
    OK("confirm_version_of_32_characters",
       JOB(SOTA_JOB_CONFIRM, 1, 4096, "0123456789abcdef0123456789ABCDEF", 4096,
           9),
       CP(SOTA_PHASE_DONE, SOTA_RESULT_SUCCESS, 4096, 9, 4096,
          "0123456789abcdef0123456789ABCDEF")),
    /* ---- results read from the row -------------------------------------- */
    OK("result_out_of_range_is_initial",
       JOB(SOTA_JOB_DOWNLOAD, 99, -1, NULL, 1024, 3),
       CP(SOTA_PHASE_DOWNLOADING, SOTA_RESULT_INITIAL, 1024, 3, 0, "")),
    OK("result_negative_is_initial",
       JOB(SOTA_JOB_DOWNLOAD, -1, -1, NULL, 1024, 3),
       CP(SOTA_PHASE_DOWNLOADING, SOTA_RESULT_INITIAL, 1024, 3, 0, "")),
    OK("result_kept", JOB(SOTA_JOB_DOWNLOAD, 5, -1, NULL, 1024, 3),
       CP(SOTA_PHASE_DOWNLOADING, SOTA_RESULT_INTEGRITY, 1024, 3, 0, "")),
    /* ---- final rows ----------------------------------------------------- */
    OK("done_nothing_staged_is_idle", JOB(SOTA_JOB_DONE, 1, 4096, NULL, 0, -1),
       CP(SOTA_PHASE_IDLE, SOTA_RESULT_SUCCESS, 0, -1, 0, "")),
    OK("failed_nothing_staged_is_idle",
       JOB(SOTA_JOB_FAILED, 8, -1, NULL, 0, -1),
       CP(SOTA_PHASE_IDLE, SOTA_RESULT_UPDATE_FAILED, 0, -1, 0, "")),
    /* ---- refused -------------------------------------------------------- */
    BAD("failed_with_staged_bytes", JOB(SOTA_JOB_FAILED, 8, -1, NULL, 1024, 3),
        GW_E_CORRUPT),
    BAD("confirm_nothing_staged", JOB(SOTA_JOB_CONFIRM, 1, 4096, NULL, 0, -1),
        GW_E_CORRUPT),
    BAD("bytes_without_a_chunk_msgid",
        JOB(SOTA_JOB_DOWNLOAD, 0, -1, NULL, 1024, -1), GW_E_CORRUPT),
    BAD("msgid_below_minus_one", JOB(SOTA_JOB_DOWNLOAD, 0, -1, NULL, 0, -7),
        GW_E_CORRUPT),
    BAD("bytes_over_image_max",
        JOB(SOTA_JOB_DOWNLOAD, 0, -1, NULL, IMAGE_MAX + 1, 3), GW_E_CORRUPT),
    BAD("version_too_long",
        JOB(SOTA_JOB_CONFIRM, 1, 4096, "0123456789abcdef0123456789ABCDEF!",
            4096, 9),
        GW_E_CORRUPT),
    BAD("unknown_phase", JOB((enum sota_job_phase)42, 0, -1, NULL, 0, -1),
        GW_E_INVAL),
};

static void check_case(const struct resume_case *c)
{
    struct sota_checkpoint got, idle;
    int rc;

    memset(&got, 0x5a, sizeof got);
    rc = sota_checkpoint_from_job(&c->job, IMAGE_MAX, &got);
    if (rc != c->rc)
        fail_msg("%s: rc %d, want %d", c->name, rc, c->rc);
    if (rc < 0) {
        /* refused: the caller is left with the idle checkpoint */
        sota_checkpoint_init(&idle);
        if (memcmp(&got, &idle, sizeof got) != 0)
            fail_msg("%s: refused but not left idle", c->name);
        return;
    }
    if (got.phase != c->want.phase || got.result != c->want.result ||
        got.bytes != c->want.bytes || got.last_msgid != c->want.last_msgid ||
        got.image_size != c->want.image_size ||
        strcmp(got.new_version, c->want.new_version) != 0)
        fail_msg("%s: got %s result %d bytes %u msgid %d size %u \"%s\"",
                 c->name, sota_phase_name(got.phase), (int)got.result,
                 got.bytes, got.last_msgid, got.image_size, got.new_version);
    /* whatever it builds, the machine accepts */
    assert_int_equal(sota_checkpoint_validate(&got, IMAGE_MAX), 0);
}

static void resume_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_case(&cases[i]);
}

static void null_arguments(void **state)
{
    struct sota_checkpoint cp;
    struct sota_stored_job job = JOB(SOTA_JOB_DOWNLOAD, 0, -1, NULL, 0, -1);

    (void)state;
    assert_int_equal(sota_checkpoint_from_job(NULL, IMAGE_MAX, &cp),
                     GW_E_INVAL);
    assert_int_equal(cp.phase, SOTA_PHASE_IDLE);
    assert_int_equal(sota_checkpoint_from_job(&job, IMAGE_MAX, NULL),
                     GW_E_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(resume_table),
        cmocka_unit_test(null_arguments),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
