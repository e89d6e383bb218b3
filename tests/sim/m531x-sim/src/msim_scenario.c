/* msim_scenario.c: scenario loading (jansson, OpenSSL MD5) and the report.
 *
 * The scenario is checked strictly: an unknown key, a wrong type or a value
 * out of range is an error that names the key, so a typo never silently
 * turns a fault off. A package whose MD5 does not match refuses its task
 * (as the platform would) but is not an error: the run goes on. */
#include "msim_scenario.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WHERE_MAX 96

struct ctx {
    char *err;
    size_t err_cap;
};

static int fail_msg(struct ctx *c, const char *where, const char *key,
                    const char *what)
{
    snprintf(c->err, c->err_cap, "%s%s%s: %s", where, key ? "." : "",
             key ? key : "", what);
    return -EINVAL;
}

static int check_keys(struct ctx *c, json_t *obj, const char *where,
                      const char *const *allowed)
{
    const char *key;
    json_t *v;
    if (!json_is_object(obj))
        return fail_msg(c, where, NULL, "must be an object");
    json_object_foreach(obj, key, v)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i] != NULL; i++)
            if (strcmp(allowed[i], key) == 0)
                ok = true;
        if (!ok)
            return fail_msg(c, where, key, "unknown key");
    }
    return 0;
}

/* Absent keys keep the default already in *out. */
static int get_long(struct ctx *c, json_t *obj, const char *where,
                    const char *key, long lo, long hi, long *out)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return 0;
    if (!json_is_integer(v))
        return fail_msg(c, where, key, "must be an integer");
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi) {
        char msg[64];
        snprintf(msg, sizeof(msg), "must be in %ld..%ld", lo, hi);
        return fail_msg(c, where, key, msg);
    }
    *out = (long)x;
    return 0;
}

static int get_uint(struct ctx *c, json_t *obj, const char *where,
                    const char *key, long lo, long hi, unsigned *out)
{
    long v = (long)*out;
    int rc = get_long(c, obj, where, key, lo, hi, &v);
    *out = (unsigned)v;
    return rc;
}

static int get_int(struct ctx *c, json_t *obj, const char *where,
                   const char *key, long lo, long hi, int *out)
{
    long v = *out;
    int rc = get_long(c, obj, where, key, lo, hi, &v);
    *out = (int)v;
    return rc;
}

static int get_bool(struct ctx *c, json_t *obj, const char *where,
                    const char *key, bool *out)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return 0;
    if (!json_is_boolean(v))
        return fail_msg(c, where, key, "must be true or false");
    *out = json_is_true(v);
    return 0;
}

static int get_str(struct ctx *c, json_t *obj, const char *where,
                   const char *key, char *out, size_t cap, bool required)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return required ? fail_msg(c, where, key, "is required") : 0;
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        json_string_length(v) >= cap)
        return fail_msg(c, where, key, "must be a non-empty short string");
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int get_chunk_list(struct ctx *c, json_t *obj, const char *where,
                          const char *key, int *list, size_t *n)
{
    json_t *v = json_object_get(obj, key), *e;
    size_t i;
    if (v == NULL)
        return 0;
    if (!json_is_array(v) || json_array_size(v) > MSIM_FAULT_LIST_MAX)
        return fail_msg(c, where, key,
                        "must be an array of at most 16 chunk indexes");
    *n = 0;
    json_array_foreach(v, i, e)
    {
        if (!json_is_integer(e) || json_integer_value(e) < 0 ||
            json_integer_value(e) > 65535)
            return fail_msg(c, where, key, "chunk indexes are 0..65535");
        list[(*n)++] = (int)json_integer_value(e);
    }
    return 0;
}

static int parse_platform(struct ctx *c, json_t *o, struct msim_platform_cfg *p)
{
    static const char *const keys[] = {"chunk_size",       "first_request_ms",
                                       "request_gap_ms",   "resend_ms",
                                       "max_resends",      "deadline_ms",
                                       "update_wait_s",    "task_timeout_s",
                                       "reboot_banner_ms", NULL};
    const char *w = "platform";
    unsigned cs = (unsigned)p->chunk_size;
    int rc;
    if (o == NULL)
        return 0;
    if ((rc = check_keys(c, o, w, keys)) < 0 ||
        (rc = get_uint(c, o, w, "chunk_size", 16, 4096, &cs)) < 0 ||
        (rc = get_uint(c, o, w, "first_request_ms", 0, 600000,
                       &p->first_request_ms)) < 0 ||
        (rc = get_uint(c, o, w, "request_gap_ms", 0, 600000,
                       &p->request_gap_ms)) < 0 ||
        (rc = get_uint(c, o, w, "resend_ms", 10, 600000, &p->resend_ms)) < 0 ||
        (rc = get_uint(c, o, w, "max_resends", 0, 100, &p->max_resends)) < 0 ||
        (rc = get_uint(c, o, w, "deadline_ms", 1, 600000, &p->deadline_ms)) <
            0 ||
        (rc = get_uint(c, o, w, "update_wait_s", 1, 86400, &p->update_wait_s)) <
            0 ||
        (rc = get_uint(c, o, w, "task_timeout_s", 0, 864000,
                       &p->task_timeout_s)) < 0 ||
        (rc = get_uint(c, o, w, "reboot_banner_ms", 0, 60000,
                       &p->reboot_banner_ms)) < 0)
        return rc;
    p->chunk_size = cs;
    return 0;
}

static int parse_sota(struct ctx *c, json_t *v, const char *w,
                      struct msim_dialect *d)
{
    static const char *const keys[] = {"erase_ok", "write_ok", "erase_fail",
                                       "write_fail", NULL};
    int rc;
    if ((rc = check_keys(c, v, w, keys)) < 0 ||
        (rc = get_int(c, v, w, "erase_ok", 0, 255, &d->sota_erase_ok)) < 0 ||
        (rc = get_int(c, v, w, "write_ok", 0, 255, &d->sota_write_ok)) < 0 ||
        (rc = get_int(c, v, w, "erase_fail", 0, 255, &d->sota_erase_fail)) <
            0 ||
        (rc = get_int(c, v, w, "write_fail", 0, 255, &d->sota_write_fail)) < 0)
        return rc;
    if (d->sota_erase_ok == d->sota_write_ok ||
        d->sota_erase_ok == d->sota_erase_fail ||
        d->sota_write_ok == d->sota_write_fail)
        return fail_msg(c, w, NULL, "ok and fail values must differ");
    return 0;
}

static int parse_dialect(struct ctx *c, json_t *o, const char *w,
                         struct msim_dialect *d)
{
    static const char *const keys[] = {
        "opaque_len",           "value_next_line",
        "write_index_field",    "spaced",
        "create_prints_ref",    "read_all_count",
        "reuse_mode_msgid",     "sota",
        "open_event_delays_ms", NULL};
    char ww[WHERE_MAX];
    json_t *v;
    int rc;
    if (o == NULL)
        return 0;
    if ((rc = check_keys(c, o, w, keys)) < 0 ||
        (rc = get_bool(c, o, w, "value_next_line", &d->value_next_line)) < 0 ||
        (rc = get_bool(c, o, w, "write_index_field", &d->write_index_field)) <
            0 ||
        (rc = get_bool(c, o, w, "spaced", &d->spaced)) < 0 ||
        (rc = get_bool(c, o, w, "create_prints_ref", &d->create_prints_ref)) <
            0 ||
        (rc = get_bool(c, o, w, "read_all_count", &d->read_all_count)) < 0 ||
        (rc = get_bool(c, o, w, "reuse_mode_msgid", &d->reuse_mode_msgid)) < 0)
        return rc;
    v = json_object_get(o, "opaque_len");
    if (v != NULL) {
        const char *s = json_string_value(v);
        if (s != NULL && strcmp(s, "bytes") == 0)
            d->opaque_len = MSIM_LEN_BYTES;
        else if (s != NULL && strcmp(s, "hex") == 0)
            d->opaque_len = MSIM_LEN_HEXCHARS;
        else
            return fail_msg(c, w, "opaque_len", "must be \"bytes\" or \"hex\"");
    }
    v = json_object_get(o, "sota");
    snprintf(ww, sizeof(ww), "%s.sota", w);
    if (v != NULL && (rc = parse_sota(c, v, ww, d)) < 0)
        return rc;
    v = json_object_get(o, "open_event_delays_ms");
    if (v != NULL) {
        if (!json_is_array(v) || json_array_size(v) != 4)
            return fail_msg(c, w, "open_event_delays_ms",
                            "must be 4 delays (events 1, 2, 4, 6)");
        for (size_t i = 0; i < 4; i++) {
            json_t *e = json_array_get(v, i);
            if (!json_is_integer(e) || json_integer_value(e) < 0 ||
                json_integer_value(e) > 600000)
                return fail_msg(c, w, "open_event_delays_ms",
                                "delays are 0..600000 ms");
            d->open_event_delay_ms[i] = (unsigned)json_integer_value(e);
        }
    }
    return 0;
}

static int parse_faults(struct ctx *c, json_t *o, const char *w,
                        struct msim_faults *f)
{
    static const char *const keys[] = {"split_lines",
                                       "noise_permille",
                                       "corrupt_permille",
                                       "duplicate_permille",
                                       "corrupt_chunks",
                                       "duplicate_chunks",
                                       "reboot_after_chunk",
                                       "unplug_after_chunk",
                                       "unplug_ms",
                                       "unplug_reboots",
                                       "baud",
                                       "open_fails",
                                       "open_fail_silent",
                                       "create_602_always",
                                       NULL};
    int rc;
    if (o == NULL)
        return 0;
    if ((rc = check_keys(c, o, w, keys)) < 0 ||
        (rc = get_bool(c, o, w, "split_lines", &f->split_lines)) < 0 ||
        (rc = get_uint(c, o, w, "noise_permille", 0, 1000,
                       &f->noise_permille)) < 0 ||
        (rc = get_uint(c, o, w, "corrupt_permille", 0, 1000,
                       &f->corrupt_permille)) < 0 ||
        (rc = get_uint(c, o, w, "duplicate_permille", 0, 1000,
                       &f->duplicate_permille)) < 0 ||
        (rc = get_chunk_list(c, o, w, "corrupt_chunks", f->corrupt_chunks,
                             &f->n_corrupt)) < 0 ||
        (rc = get_chunk_list(c, o, w, "duplicate_chunks", f->duplicate_chunks,
                             &f->n_duplicate)) < 0 ||
        (rc = get_int(c, o, w, "reboot_after_chunk", -1, 65535,
                      &f->reboot_after_chunk)) < 0 ||
        (rc = get_int(c, o, w, "unplug_after_chunk", -1, 65535,
                      &f->unplug_after_chunk)) < 0 ||
        (rc = get_uint(c, o, w, "unplug_ms", 0, 600000, &f->unplug_ms)) < 0 ||
        (rc = get_bool(c, o, w, "unplug_reboots", &f->unplug_reboots)) < 0 ||
        (rc = get_uint(c, o, w, "baud", 0, 4000000, &f->baud)) < 0 ||
        (rc = get_int(c, o, w, "open_fails", -1, 1000000, &f->open_fails)) <
            0 ||
        (rc = get_bool(c, o, w, "open_fail_silent", &f->open_fail_silent)) <
            0 ||
        (rc = get_bool(c, o, w, "create_602_always", &f->create_602_always)) <
            0)
        return rc;
    if (f->baud != 0 && f->baud < 1200)
        return fail_msg(c, w, "baud", "must be 0 (no pacing) or >= 1200");
    return 0;
}

static int parse_timing(struct ctx *c, json_t *o, const char *w,
                        struct msim_timing *t)
{
    static const char *const keys[] = {
        "adversarial",        "max_delay_ms",        "early_permille",
        "duplicate_permille", "interleave_permille", NULL};
    int rc;
    if (o == NULL)
        return 0;
    if ((rc = check_keys(c, o, w, keys)) < 0 ||
        (rc = get_bool(c, o, w, "adversarial", &t->adversarial)) < 0 ||
        (rc = get_uint(c, o, w, "max_delay_ms", 0, 600000, &t->max_delay_ms)) <
            0 ||
        (rc = get_uint(c, o, w, "early_permille", 0, 1000,
                       &t->early_permille)) < 0 ||
        (rc = get_uint(c, o, w, "duplicate_permille", 0, 1000,
                       &t->duplicate_permille)) < 0 ||
        (rc = get_uint(c, o, w, "interleave_permille", 0, 1000,
                       &t->interleave_permille)) < 0)
        return rc;
    return 0;
}

static int parse_registration(struct ctx *c, json_t *o, const char *w,
                              struct msim_registration *r)
{
    static const char *const keys[] = {"honour_lifetime", "lifetime_cap_s",
                                       "update_needed_event",
                                       "update_needed_lead_s", NULL};
    int rc;
    if (o == NULL)
        return 0;
    if ((rc = check_keys(c, o, w, keys)) < 0 ||
        (rc = get_bool(c, o, w, "honour_lifetime", &r->honour_lifetime)) < 0 ||
        (rc = get_uint(c, o, w, "lifetime_cap_s", 0, 86400,
                       &r->lifetime_cap_s)) < 0 ||
        (rc = get_bool(c, o, w, "update_needed_event",
                       &r->update_needed_event)) < 0 ||
        (rc = get_uint(c, o, w, "update_needed_lead_s", 0, 86400,
                       &r->update_needed_lead_s)) < 0)
        return rc;
    return 0;
}

static int parse_module_block(struct ctx *c, json_t *o, const char *w,
                              struct msim_mod_cfg *m, bool allow_index)
{
    static const char *const keys[] = {"dialect", "faults", "timing",
                                       "registration", NULL};
    static const char *const keys_i[] = {"index",  "dialect",      "faults",
                                         "timing", "registration", NULL};
    char ww[WHERE_MAX];
    int rc;
    if (o == NULL)
        return 0;
    if ((rc = check_keys(c, o, w, allow_index ? keys_i : keys)) < 0)
        return rc;
    snprintf(ww, sizeof(ww), "%s.dialect", w);
    if ((rc = parse_dialect(c, json_object_get(o, "dialect"), ww,
                            &m->dialect)) < 0)
        return rc;
    snprintf(ww, sizeof(ww), "%s.timing", w);
    if ((rc = parse_timing(c, json_object_get(o, "timing"), ww, &m->timing)) <
        0)
        return rc;
    snprintf(ww, sizeof(ww), "%s.registration", w);
    if ((rc = parse_registration(c, json_object_get(o, "registration"), ww,
                                 &m->registration)) < 0)
        return rc;
    snprintf(ww, sizeof(ww), "%s.faults", w);
    return parse_faults(c, json_object_get(o, "faults"), ww, &m->faults);
}

static int read_file(const char *path, uint8_t **out, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    uint8_t *buf = NULL;
    long sz;
    int rc = -EIO;
    if (fp == NULL)
        return -errno;
    if (fseek(fp, 0, SEEK_END) != 0 || (sz = ftell(fp)) < 0 ||
        fseek(fp, 0, SEEK_SET) != 0)
        goto fail;
    if (sz == 0 || (unsigned long)sz > MSIM_PACKAGE_MAX) {
        rc = -EFBIG;
        goto fail;
    }
    buf = malloc((size_t)sz);
    if (buf == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    if (fread(buf, 1, (size_t)sz, fp) != (size_t)sz)
        goto fail;
    fclose(fp);
    *out = buf;
    *len = (size_t)sz;
    return 0;
fail:
    free(buf);
    fclose(fp);
    return rc;
}

static void md5_hex(const uint8_t *data, size_t len, char out[33])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    memset(md, 0, sizeof(md));
    EVP_Digest(data, len, md, &n, EVP_md5(), NULL);
    for (unsigned i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

struct software {
    char name[64];
    char target[MSIM_VERSION_MAX];
    char file[512];
    char md5[40];
};

static int parse_software(struct ctx *c, json_t *arr, struct software *sw,
                          size_t *n_sw)
{
    static const char *const keys[] = {"name", "target_version", "package",
                                       NULL};
    static const char *const pkeys[] = {"file", "md5", NULL};
    json_t *e;
    size_t i;
    int rc;
    if (!json_is_array(arr) || json_array_size(arr) == 0 ||
        json_array_size(arr) > MSIM_SCEN_MAX_TASKS)
        return fail_msg(c, "software", NULL,
                        "must be an array of 1..16 software versions");
    json_array_foreach(arr, i, e)
    {
        char w[WHERE_MAX];
        json_t *pkg;
        snprintf(w, sizeof(w), "software[%zu]", i);
        memset(&sw[i], 0, sizeof(sw[i]));
        if ((rc = check_keys(c, e, w, keys)) < 0 ||
            (rc = get_str(c, e, w, "name", sw[i].name, sizeof(sw[i].name),
                          true)) < 0 ||
            (rc = get_str(c, e, w, "target_version", sw[i].target,
                          sizeof(sw[i].target), true)) < 0)
            return rc;
        pkg = json_object_get(e, "package");
        snprintf(w, sizeof(w), "software[%zu].package", i);
        if (pkg == NULL)
            return fail_msg(c, w, NULL, "is required (file and md5)");
        if ((rc = check_keys(c, pkg, w, pkeys)) < 0 ||
            (rc = get_str(c, pkg, w, "file", sw[i].file, sizeof(sw[i].file),
                          true)) < 0 ||
            (rc = get_str(c, pkg, w, "md5", sw[i].md5, sizeof(sw[i].md5),
                          true)) < 0)
            return rc;
        if (strlen(sw[i].md5) != 32)
            return fail_msg(c, w, "md5", "must be 32 hex digits");
    }
    *n_sw = json_array_size(arr);
    return 0;
}

/* Is module idx (with imei) in the group's device list? */
static int group_has(struct ctx *c, json_t *group, const char *w, unsigned idx,
                     const char *imei, bool *in)
{
    json_t *devs = json_object_get(group, "devices"), *e;
    size_t i;
    *in = false;
    if (json_is_string(devs) && strcmp(json_string_value(devs), "all") == 0) {
        *in = true;
        return 0;
    }
    if (!json_is_array(devs))
        return fail_msg(c, w, "devices",
                        "must be \"all\" or an array of "
                        "IMEI strings and module indexes");
    json_array_foreach(devs, i, e)
    {
        if (json_is_integer(e)) {
            if (json_integer_value(e) == (json_int_t)idx)
                *in = true;
        } else if (json_is_string(e)) {
            if (strcmp(json_string_value(e), imei) == 0)
                *in = true;
        } else {
            return fail_msg(c, w, "devices", "entries are IMEIs or indexes");
        }
    }
    return 0;
}

static json_t *find_named(json_t *arr, const char *name)
{
    json_t *e;
    size_t i;
    json_array_foreach(arr, i, e)
    {
        json_t *n = json_object_get(e, "name");
        if (json_is_string(n) && strcmp(json_string_value(n), name) == 0)
            return e;
    }
    return NULL;
}

/* Reads the package and checks its MD5; a mismatch refuses the task. */
static int load_package(struct ctx *c, struct msim_scenario *sc, size_t ti,
                        const struct software *s, const char *base_dir,
                        const char *w)
{
    struct msim_task *t = &sc->tasks[ti];
    char path[1024], md5[33];
    uint8_t *pkg = NULL;
    size_t len = 0;
    int rc;

    if (s->file[0] == '/')
        snprintf(path, sizeof(path), "%s", s->file);
    else
        snprintf(path, sizeof(path), "%s/%s", base_dir, s->file);
    rc = read_file(path, &pkg, &len);
    if (rc < 0) {
        snprintf(c->err, c->err_cap, "%s: package %s: %s", w, path,
                 rc == -EFBIG ? "empty or over 16 MiB" : strerror(-rc));
        return rc;
    }
    md5_hex(pkg, len, md5);
    if (strcasecmp(md5, s->md5) != 0) {
        snprintf(t->refused_reason, sizeof(t->refused_reason),
                 "refused: package MD5 is %.32s, declared %.32s", md5, s->md5);
        free(pkg);
        return 0;
    }
    sc->packages[ti] = pkg;
    t->package = pkg;
    t->package_len = len;
    return 0;
}

static int load_tasks(struct ctx *c, struct msim_scenario *sc, json_t *root,
                      const char *base_dir, uint64_t now_us)
{
    static const char *const gkeys[] = {"name", "devices", NULL};
    static const char *const tkeys[] = {"name",        "group",   "software",
                                        "min_battery", "start_s", NULL};
    struct software sw[MSIM_SCEN_MAX_TASKS];
    size_t n_sw = 0, i;
    json_t *groups = json_object_get(root, "groups");
    json_t *tasks = json_object_get(root, "tasks"), *e;
    int rc;

    if ((rc = parse_software(c, json_object_get(root, "software"), sw, &n_sw)) <
        0)
        return rc;
    if (!json_is_array(groups))
        return fail_msg(c, "groups", NULL, "must be an array");
    json_array_foreach(groups, i, e)
    {
        char w[WHERE_MAX], name[64];
        snprintf(w, sizeof(w), "groups[%zu]", i);
        if ((rc = check_keys(c, e, w, gkeys)) < 0 ||
            (rc = get_str(c, e, w, "name", name, sizeof(name), true)) < 0)
            return rc;
    }
    if (!json_is_array(tasks) || json_array_size(tasks) > MSIM_SCEN_MAX_TASKS)
        return fail_msg(c, "tasks", NULL, "must be an array of 0..16 tasks");
    json_array_foreach(tasks, i, e)
    {
        struct msim_task *t = &sc->tasks[i];
        char w[WHERE_MAX], group[64];
        unsigned start_s = 0;
        const struct software *s = NULL;
        snprintf(w, sizeof(w), "tasks[%zu]", i);
        memset(t, 0, sizeof(*t));
        if ((rc = check_keys(c, e, w, tkeys)) < 0 ||
            (rc = get_str(c, e, w, "name", t->name, sizeof(t->name), true)) <
                0 ||
            (rc = get_str(c, e, w, "group", group, sizeof(group), true)) < 0 ||
            (rc = get_str(c, e, w, "software", t->software, sizeof(t->software),
                          true)) < 0 ||
            (rc = get_int(c, e, w, "min_battery", 0, 100, &t->min_battery)) <
                0 ||
            (rc = get_uint(c, e, w, "start_s", 0, 864000, &start_s)) < 0)
            return rc;
        if (find_named(groups, group) == NULL)
            return fail_msg(c, w, "group", "names no group");
        for (size_t k = 0; k < n_sw; k++)
            if (strcmp(sw[k].name, t->software) == 0)
                s = &sw[k];
        if (s == NULL)
            return fail_msg(c, w, "software", "names no software version");
        snprintf(t->target_version, sizeof(t->target_version), "%s", s->target);
        t->start_us = now_us + (uint64_t)start_s * 1000000u;
        if ((rc = load_package(c, sc, i, s, base_dir, w)) < 0)
            return rc;
    }
    sc->n_tasks = json_array_size(tasks);
    return 0;
}

/* Which task covers each module: the first whose group holds it. */
static int assign_tasks(struct ctx *c, struct msim_scenario *sc, json_t *root)
{
    json_t *groups = json_object_get(root, "groups");
    json_t *tasks = json_object_get(root, "tasks");
    int rc;
    for (unsigned m = 0; m < sc->n_modems; m++) {
        for (size_t t = 0; t < sc->n_tasks && sc->mods[m].task == NULL; t++) {
            json_t *tj = json_array_get(tasks, t);
            const char *gname = json_string_value(json_object_get(tj, "group"));
            char w[WHERE_MAX];
            bool in;
            snprintf(w, sizeof(w), "group %s", gname);
            if ((rc = group_has(c, find_named(groups, gname), w, m,
                                sc->mods[m].id.imei, &in)) < 0)
                return rc;
            if (in)
                sc->mods[m].task = &sc->tasks[t];
        }
    }
    return 0;
}

static int load_modules(struct ctx *c, struct msim_scenario *sc, json_t *root)
{
    static const char *const rkeys[] = {"permille", "faults", NULL};
    json_t *rnd = json_object_get(root, "random_faults");
    json_t *v = json_object_get(root, "modules"), *e;
    unsigned rnd_permille = 0;
    uint64_t pick = sc->seed ^ 0x5EEDu;
    size_t i;
    int rc;

    if (rnd != NULL && ((rc = check_keys(c, rnd, "random_faults", rkeys)) < 0 ||
                        (rc = get_uint(c, rnd, "random_faults", "permille", 0,
                                       1000, &rnd_permille)) < 0))
        return rc;
    for (unsigned m = 0; m < sc->n_modems; m++) {
        struct msim_mod_cfg *mc = &sc->mods[m];
        mc->index = m;
        msim_identity_derive(&mc->id, sc->seed, m);
        msim_dialect_defaults(&mc->dialect);
        msim_faults_defaults(&mc->faults);
        msim_timing_defaults(&mc->timing);
        msim_registration_defaults(&mc->registration);
        mc->platform = sc->platform;
        mc->rng_seed = sc->seed * 1000003u + m;
        if ((rc =
                 parse_module_block(c, json_object_get(root, "module_defaults"),
                                    "module_defaults", mc, false)) < 0)
            return rc;
        /* The same modules get the random faults for the same seed. */
        if (rnd != NULL && msim_rand_next(&pick) % 1000u < rnd_permille &&
            (rc = parse_faults(c, json_object_get(rnd, "faults"),
                               "random_faults.faults", &mc->faults)) < 0)
            return rc;
    }
    if (v != NULL && !json_is_array(v))
        return fail_msg(c, "scenario", "modules", "must be an array");
    json_array_foreach(v, i, e)
    {
        char w[WHERE_MAX];
        long idx = -1;
        snprintf(w, sizeof(w), "modules[%zu]", i);
        if ((rc = get_long(c, e, w, "index", 0, MSIM_SCEN_MAX_MODEMS - 1,
                           &idx)) < 0)
            return rc;
        if (idx < 0)
            return fail_msg(c, w, "index", "is required");
        if ((unsigned long)idx >= sc->n_modems)
            continue; /* a module this run does not have */
        if ((rc = parse_module_block(c, e, w, &sc->mods[idx], true)) < 0)
            return rc;
    }
    return 0;
}

int msim_scenario_load(struct msim_scenario *sc, const char *path,
                       unsigned n_modems, uint64_t seed, bool seed_set,
                       uint64_t now_us, char *err, size_t err_cap)
{
    static const char *const keys[] = {"seed",          "platform",
                                       "software",      "groups",
                                       "tasks",         "module_defaults",
                                       "random_faults", "modules",
                                       "comment",       NULL};
    struct ctx c = {err, err_cap};
    json_error_t jerr;
    json_t *root = NULL, *v;
    char base[512];
    int rc = -EINVAL;

    memset(sc, 0, sizeof(*sc));
    snprintf(base, sizeof(base), "%s", path);
    char *slash = strrchr(base, '/');
    if (slash != NULL)
        *slash = '\0';
    else
        snprintf(base, sizeof(base), ".");
    if (n_modems == 0 || n_modems > MSIM_SCEN_MAX_MODEMS) {
        snprintf(err, err_cap, "--modems must be 1..%d", MSIM_SCEN_MAX_MODEMS);
        goto fail;
    }
    root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        snprintf(err, err_cap, "%s:%d:%d: %s", path, jerr.line, jerr.column,
                 jerr.text);
        goto fail;
    }
    if ((rc = check_keys(&c, root, "scenario", keys)) < 0)
        goto fail;
    sc->n_modems = n_modems;
    sc->seed = 1;
    v = json_object_get(root, "seed");
    if (v != NULL) {
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            rc = fail_msg(&c, "scenario", "seed", "must be an integer >= 0");
            goto fail;
        }
        sc->seed = (uint64_t)json_integer_value(v);
    }
    if (seed_set)
        sc->seed = seed;
    msim_platform_defaults(&sc->platform);
    if ((rc = parse_platform(&c, json_object_get(root, "platform"),
                             &sc->platform)) < 0 ||
        (rc = load_tasks(&c, sc, root, base, now_us)) < 0)
        goto fail;
    sc->mods = calloc(n_modems, sizeof(*sc->mods));
    if (sc->mods == NULL) {
        rc = -ENOMEM;
        snprintf(err, err_cap, "out of memory");
        goto fail;
    }
    if ((rc = load_modules(&c, sc, root)) < 0 ||
        (rc = assign_tasks(&c, sc, root)) < 0)
        goto fail;
    json_decref(root);
    return 0;
fail:
    json_decref(root);
    msim_scenario_cleanup(sc);
    return rc < 0 ? rc : -EINVAL;
}

void msim_scenario_cleanup(struct msim_scenario *sc)
{
    for (size_t i = 0; i < MSIM_SCEN_MAX_TASKS; i++) {
        free(sc->packages[i]);
        sc->packages[i] = NULL;
    }
    free(sc->mods);
    sc->mods = NULL;
}

/* ---- report ----------------------------------------------------------- */

static json_t *latency_json(const struct msim_stats *st)
{
    uint32_t *tmp = NULL;
    json_t *o = json_object();
    size_t n = st->n_lat;
    json_object_set_new(o, "count", json_integer((json_int_t)n));
    json_object_set_new(o, "dropped", json_integer(st->lat_dropped));
    if (n > 0 && (tmp = malloc(n * sizeof(*tmp))) != NULL) {
        memcpy(tmp, st->lat_us, n * sizeof(*tmp));
        json_object_set_new(o, "p50_ms",
                            json_real(msim_percentile(tmp, n, 50) / 1000.0));
        json_object_set_new(o, "p99_ms",
                            json_real(msim_percentile(tmp, n, 99) / 1000.0));
        json_object_set_new(o, "max_ms",
                            json_real(msim_percentile(tmp, n, 100) / 1000.0));
        free(tmp);
    }
    return o;
}

/* The faults active on a module, by name, so a report says what it ran. */
static json_t *faults_json(const struct msim_faults *f)
{
    json_t *a = json_array();
    if (f->split_lines)
        json_array_append_new(a, json_string("split_lines"));
    if (f->noise_permille != 0)
        json_array_append_new(a, json_string("noise"));
    if (f->n_corrupt != 0 || f->corrupt_permille != 0)
        json_array_append_new(a, json_string("corrupt"));
    if (f->n_duplicate != 0 || f->duplicate_permille != 0)
        json_array_append_new(a, json_string("duplicate"));
    if (f->reboot_after_chunk >= 0)
        json_array_append_new(a, json_string("reboot"));
    if (f->unplug_after_chunk >= 0)
        json_array_append_new(a, json_string("unplug"));
    if (f->baud != 0)
        json_array_append_new(a, json_string("baud"));
    if (f->open_fails != 0)
        json_array_append_new(a, json_string("open_fails"));
    if (f->create_602_always)
        json_array_append_new(a, json_string("create_602_always"));
    return a;
}

/* What the MCU asked of the module's instance and power. */
static json_t *commands_json(const struct msim_stats *st)
{
    json_t *o = json_object();
    json_object_set_new(o, "create", json_integer(st->creates));
    json_object_set_new(o, "delete", json_integer(st->deletes));
    json_object_set_new(o, "open", json_integer(st->opens));
    json_object_set_new(o, "reboot", json_integer(st->reboot_commands));
    return o;
}

static json_t *registration_json(const struct msim_stats *st)
{
    json_t *o = json_object();
    json_object_set_new(o, "registrations", json_integer(st->registrations));
    json_object_set_new(o, "open_failures", json_integer(st->open_failures));
    json_object_set_new(o, "keepalives", json_integer(st->keepalives));
    json_object_set_new(o, "lifetime_expiries",
                        json_integer(st->lifetime_expiries));
    json_object_set_new(o, "update_needed_events",
                        json_integer(st->update_needed_events));
    return o;
}

/* What the adversarial timing did (all 0 without it). */
static json_t *timing_json(const struct msim_stats *st)
{
    json_t *o = json_object();
    json_object_set_new(o, "delayed", json_integer(st->events_delayed));
    json_object_set_new(o, "early", json_integer(st->events_early));
    json_object_set_new(o, "duplicated", json_integer(st->events_duplicated));
    json_object_set_new(o, "interleaved", json_integer(st->events_interleaved));
    return o;
}

static json_t *module_json(const struct msim_mod *mod, const char *dir)
{
    const struct msim_stats *st = msim_mod_stats(mod);
    const struct msim_mod_cfg *cfg = msim_mod_cfg_get(mod);
    json_t *o = json_object(), *chunks = json_object(), *v = json_array();
    char link[600];

    snprintf(link, sizeof(link), "%s/ttyM%03u", dir, cfg->index);
    json_object_set_new(o, "index", json_integer(cfg->index));
    json_object_set_new(o, "link", json_string(link));
    json_object_set_new(o, "imei", json_string(cfg->id.imei));
    json_object_set_new(o, "imsi", json_string(cfg->id.imsi));
    json_object_set_new(o, "iccid", json_string(cfg->id.iccid));
    json_object_set_new(o, "task",
                        cfg->task ? json_string(cfg->task->name) : json_null());
    json_object_set_new(o, "faults", faults_json(&cfg->faults));
    json_object_set_new(o, "outcome",
                        json_string(msim_outcome_name(st->outcome)));
    json_object_set_new(o, "reason", json_string(st->reason));
    json_object_set_new(o, "attempts", json_integer(st->attempts));
    json_object_set_new(chunks, "sent", json_integer(st->chunks_sent));
    json_object_set_new(chunks, "resent", json_integer(st->chunks_resent));
    json_object_set_new(chunks, "resumed", json_integer(st->chunks_resumed));
    json_object_set_new(chunks, "resume_beyond_acked",
                        json_integer(st->resume_beyond_acked));
    json_object_set_new(chunks, "resume_offset",
                        json_integer((json_int_t)st->last_resume_offset));
    json_object_set_new(chunks, "duplicated",
                        json_integer(st->chunks_duplicated));
    json_object_set_new(chunks, "corrupted",
                        json_integer(st->chunks_corrupted));
    json_object_set_new(chunks, "corrupt_acked",
                        json_integer(st->corrupt_acked));
    json_object_set_new(chunks, "write_fails", json_integer(st->write_fails));
    json_object_set_new(o, "chunks", chunks);
    json_object_set_new(o, "requests", json_integer(st->requests));
    json_object_set_new(o, "resends", json_integer(st->resends));
    json_object_set_new(o, "missed_deadlines",
                        json_integer(st->missed_deadlines));
    json_object_set_new(o, "protocol_violations", json_integer(st->violations));
    for (size_t k = 0; k < st->n_viol_kept; k++)
        json_array_append_new(v, json_string(st->viol[k]));
    json_object_set_new(o, "violations", v);
    json_object_set_new(o, "unknown_commands",
                        json_integer(st->unknown_commands));
    json_object_set_new(o, "duplicate_answers",
                        json_integer(st->duplicate_answers));
    json_object_set_new(o, "no_entity_registrations",
                        json_integer(st->no_entity_registrations));
    json_object_set_new(o, "reboots", json_integer(st->reboots));
    json_object_set_new(o, "adversarial",
                        json_boolean(cfg->timing.adversarial));
    json_object_set_new(o, "commands", commands_json(st));
    json_object_set_new(o, "registration", registration_json(st));
    json_object_set_new(o, "timing", timing_json(st));
    json_object_set_new(o, "unplugs", json_integer(st->unplugs));
    json_object_set_new(o, "output_dropped", json_integer(st->output_dropped));
    json_object_set_new(o, "latency", latency_json(st));
    return o;
}

int msim_report_write(const char *path, const struct msim_scenario *sc,
                      struct msim_mod *const *mods, const char *dir,
                      double elapsed_s)
{
    json_t *root = json_object(), *arr = json_array(), *sum = json_object();
    unsigned counts[MSIM_OUTCOME_SKIPPED + 1] = {0};
    unsigned viol = 0;
    int rc = 0;

    json_object_set_new(root, "seed", json_integer((json_int_t)sc->seed));
    json_object_set_new(root, "elapsed_s", json_real(elapsed_s));
    for (unsigned i = 0; i < sc->n_modems; i++) {
        const struct msim_stats *st = msim_mod_stats(mods[i]);
        json_array_append_new(arr, module_json(mods[i], dir));
        counts[st->outcome]++;
        viol += st->violations;
    }
    json_object_set_new(root, "modules", arr);
    for (int k = 0; k <= MSIM_OUTCOME_SKIPPED; k++)
        json_object_set_new(sum, msim_outcome_name((enum msim_outcome)k),
                            json_integer(counts[k]));
    json_object_set_new(sum, "protocol_violations", json_integer(viol));
    json_object_set_new(root, "summary", sum);
    if (json_dump_file(root, path, JSON_INDENT(2) | JSON_SORT_KEYS) != 0)
        rc = -EIO;
    json_decref(root);
    return rc;
}

void msim_scenario_adversarial(struct msim_scenario *sc)
{
    for (unsigned i = 0; i < sc->n_modems; i++)
        sc->mods[i].timing.adversarial = true; /* bounds as configured */
}
