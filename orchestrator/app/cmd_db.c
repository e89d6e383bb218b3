/* cmd_db.c: the subcommands that work on the database beside a running
 * daemon: `status` and `events` read through a read-only connection (WAL
 * lets them read while the daemon writes); `package` writes, waiting for
 * the daemon's write lock up to the busy timeout (DB_BUSY_TIMEOUT_MS).
 *
 * Identities (IMEI) are masked unless --show-imei: terminals get
 * screenshotted and logs get pasted. Text that came from a modem or an
 * operator (event details, notes) is printed with control characters
 * escaped, so it cannot move the cursor or forge lines. */
#define GW_LOG_TAG "cli"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "db/db.h"
#include "db/db_devices.h"
#include "db/db_events.h"
#include "db/db_jobs.h"
#include "db/db_packages.h"
#include "gw/clock.h"
#include "gw/err.h"
#include "gw/mask.h"

#define CLI_PAGE             64
#define CLI_EVENTS_LIMIT_MAX 1000000

struct db_opts {
    const char *db;
    const char *config;
    int show_imei;
};

/* The database path: --db, else the config's, else the default config's.
 * Returns 0 and fills path, or prints why and returns CLI_EXIT_*. */
static int resolve_db(const struct db_opts *o, char *path, size_t cap)
{
    struct gw_config *cfg;

    if (o->db && o->config) {
        fprintf(stderr, "sotagw: give --db or --config, not both\n");
        return CLI_EXIT_USAGE;
    }
    if (o->db) {
        if (strlen(o->db) >= cap) {
            fprintf(stderr, "sotagw: --db: path too long\n");
            return CLI_EXIT_USAGE;
        }
        snprintf(path, cap, "%s", o->db);
        return 0;
    }
    if (cli_config_load(o->config ? o->config : CLI_DEFAULT_CONFIG, &cfg) < 0)
        return CLI_EXIT_USAGE;
    snprintf(path, cap, "%s", cfg->gateway.db);
    gw_config_free(cfg);
    return 0;
}

static int open_db(const struct db_opts *o, unsigned flags, struct db **db)
{
    char path[GW_CONFIG_PATH_MAX];
    int rc = resolve_db(o, path, sizeof path);

    if (rc != 0)
        return rc;
    /* quick_check reads the whole file: that is the daemon's start-up
     * duty, not a status query's. */
    rc = db_open(db, path, flags | DB_OPEN_NO_CHECK);
    if (rc < 0) {
        fprintf(stderr, "sotagw: database %s: %s%s\n", path, gw_strerror(rc),
                rc == GW_E_UNKNOWN ? " (written by a newer sotagw)"
                : rc == GW_E_STATE ? " (schema not current: start the "
                                     "daemon once to migrate it)"
                                   : "");
        return CLI_EXIT_RUNTIME;
    }
    return 0;
}

static void imei_show(const char *imei, int show, char *out, size_t cap)
{
    size_t n = strlen(imei);

    if (show || n == 0)
        snprintf(out, cap, "%s", n ? imei : "-");
    else
        gw_mask_id(imei, out, cap);
}

/* Print s with control and non-ASCII bytes as \xNN. */
static void print_safe(FILE *out, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '\\')
            fputs("\\\\", out);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
}

static void time_iso(int64_t ms, char *out, size_t cap)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    if (ms <= 0 || !gmtime_r(&t, &tm) ||
        strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, cap, "-");
}

/* Parse a decimal integer in [min, max], the whole string. */
static int parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    long long v;

    if (!s || !*s || isspace((unsigned char)*s))
        return GW_E_INVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (*end != '\0')
        return GW_E_INVAL;
    if (errno == ERANGE || v < min || v > max)
        return GW_E_RANGE;
    *out = v;
    return 0;
}

/* ---- status -------------------------------------------------------------- */

/* The device's current job, else its latest; 0 when found. */
static int latest_job(struct db *db, const char *imei, struct db_job *out)
{
    struct db_job page[CLI_PAGE];
    int64_t after = 0;
    size_t n;
    int found = 0, rc;

    rc = db_job_active(db, imei, out);
    if (rc != GW_E_NOTFOUND)
        return rc;
    do {
        rc = db_job_list(db, imei, after, page, CLI_PAGE, &n);
        if (rc < 0)
            return rc;
        if (n > 0) {
            *out = page[n - 1];
            after = page[n - 1].id;
            found = 1;
        }
    } while (n == CLI_PAGE);
    return found ? 0 : GW_E_NOTFOUND;
}

static const char status_usage[] =
    "usage: sotagw status [--db PATH | --config FILE] [--show-imei]\n";

int cmd_status(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"config", required_argument, NULL, 'c'},
        {"show-imei", no_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    struct db_opts o = {0};
    struct db_device *page = NULL;
    struct db *db = NULL;
    char after[DB_IMEI_LEN + 1] = "";
    size_t n, total = 0;
    int c, rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': o.db = optarg; break;
        case 'c': o.config = optarg; break;
        case 'i': o.show_imei = 1; break;
        case 'h': fputs(status_usage, stdout); return CLI_EXIT_OK;
        default: fputs(status_usage, stderr); return CLI_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fputs(status_usage, stderr);
        return CLI_EXIT_USAGE;
    }
    rc = open_db(&o, DB_OPEN_READONLY, &db);
    if (rc != 0)
        return rc;
    page = calloc(CLI_PAGE, sizeof *page);
    if (!page) {
        rc = -ENOMEM;
        goto fail;
    }
    printf("%-15s %-20s %-12s %-9s %-12s %4s %6s %-8s %-21s %s\n", "IMEI",
           "PORT", "HUB:PORT", "STATE", "VERSION", "BATT", "JOB", "PHASE",
           "BYTES", "RESULT");
    do {
        rc = db_device_list(db, NULL, after, page, CLI_PAGE, &n);
        if (rc < 0)
            goto fail;
        for (size_t i = 0; i < n; i++) {
            const struct db_device *d = &page[i];
            struct db_job j;
            char imei[24], hub[80], batt[8], job[24], bytes[48];
            const char *phase = "-";
            const char *result = "-";

            imei_show(d->imei, o.show_imei, imei, sizeof imei);
            if (d->usb_hub[0])
                snprintf(hub, sizeof hub, "%s:%d", d->usb_hub, d->usb_port);
            else
                snprintf(hub, sizeof hub, "-");
            if (d->battery >= 0)
                snprintf(batt, sizeof batt, "%d%%", d->battery);
            else
                snprintf(batt, sizeof batt, "-");
            snprintf(job, sizeof job, "-");
            snprintf(bytes, sizeof bytes, "-");
            rc = latest_job(db, d->imei, &j);
            if (rc < 0 && rc != GW_E_NOTFOUND)
                goto fail;
            if (rc == 0) {
                snprintf(job, sizeof job, "%" PRId64, j.id);
                phase = db_job_phase_name(j.phase);
                if (j.image_size >= 0)
                    snprintf(bytes, sizeof bytes, "%" PRId64 "/%" PRId64,
                             j.bytes_durable, j.image_size);
                else
                    snprintf(bytes, sizeof bytes, "%" PRId64 "/?",
                             j.bytes_durable);
                if (j.phase == DB_JOB_DONE)
                    result = "ok";
                else if (j.phase == DB_JOB_FAILED)
                    result = j.reason[0] ? j.reason : "failed";
            }
            printf("%-15s %-20s %-12s %-9s %-12s %4s %6s %-8s %-21s ", imei,
                   d->port[0] ? d->port : "-", hub,
                   db_device_state_name(d->state),
                   d->sw_version[0] ? d->sw_version : "-", batt, job, phase,
                   bytes);
            print_safe(stdout, result);
            if (d->state == DB_DEVICE_FAULT && d->fault[0] != '\0') {
                fputs("  fault: ", stdout);
                print_safe(stdout, d->fault);
            }
            putchar('\n');
        }
        total += n;
        if (n > 0)
            snprintf(after, sizeof after, "%s", page[n - 1].imei);
    } while (n == CLI_PAGE);
    printf("%zu device%s\n", total, total == 1 ? "" : "s");
    free(page);
    db_close(db);
    return CLI_EXIT_OK;

fail:
    fprintf(stderr, "sotagw: status: %s\n", gw_strerror(rc));
    free(page);
    db_close(db);
    return CLI_EXIT_RUNTIME;
}

/* ---- events -------------------------------------------------------------- */

static const char events_usage[] =
    "usage: sotagw events [--db PATH | --config FILE] [--device IMEI]\n"
    "                     [--since ID] [--limit N] [--show-imei]\n";

int cmd_events(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"config", required_argument, NULL, 'c'},
        {"device", required_argument, NULL, 'D'},
        {"since", required_argument, NULL, 's'},
        {"limit", required_argument, NULL, 'l'},
        {"show-imei", no_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    struct db_opts o = {0};
    const char *device = NULL;
    int64_t since = 0, limit = 100, printed = 0;
    struct db_event *page = NULL;
    struct db *db = NULL;
    int c, rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': o.db = optarg; break;
        case 'c': o.config = optarg; break;
        case 'D':
            if (!gw_imei_valid(optarg)) {
                fprintf(stderr, "sotagw: --device: not an IMEI (15 digits "
                                "with a valid check digit)\n");
                return CLI_EXIT_USAGE;
            }
            device = optarg;
            break;
        case 's':
            if (parse_int(optarg, 0, INT64_MAX, &since) < 0) {
                fprintf(stderr, "sotagw: --since: want an event id >= 0\n");
                return CLI_EXIT_USAGE;
            }
            break;
        case 'l':
            if (parse_int(optarg, 1, CLI_EVENTS_LIMIT_MAX, &limit) < 0) {
                fprintf(stderr, "sotagw: --limit: want 1..%d\n",
                        CLI_EVENTS_LIMIT_MAX);
                return CLI_EXIT_USAGE;
            }
            break;
        case 'i': o.show_imei = 1; break;
        case 'h': fputs(events_usage, stdout); return CLI_EXIT_OK;
        default: fputs(events_usage, stderr); return CLI_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fputs(events_usage, stderr);
        return CLI_EXIT_USAGE;
    }
    rc = open_db(&o, DB_OPEN_READONLY, &db);
    if (rc != 0)
        return rc;
    page = calloc(CLI_PAGE, sizeof *page);
    if (!page) {
        rc = -ENOMEM;
        goto fail;
    }
    while (printed < limit) {
        size_t want =
            (size_t)(limit - printed < CLI_PAGE ? limit - printed : CLI_PAGE);
        size_t n;

        rc = db_event_list(db, device, since, page, want, &n);
        if (rc < 0)
            goto fail;
        for (size_t i = 0; i < n; i++) {
            const struct db_event *e = &page[i];
            char when[32], imei[24], job[24];

            time_iso(e->time_ms, when, sizeof when);
            imei_show(e->imei, o.show_imei, imei, sizeof imei);
            if (e->job_id)
                snprintf(job, sizeof job, "%" PRId64, e->job_id);
            else
                snprintf(job, sizeof job, "-");
            printf("%" PRId64 " %s %s job=%s %s %s ", e->id, when, imei, job,
                   e->kind, e->actor);
            print_safe(stdout, e->detail);
            putchar('\n');
            since = e->id;
        }
        printed += (int64_t)n;
        if (n < want)
            break;
    }
    free(page);
    db_close(db);
    return CLI_EXIT_OK;

fail:
    fprintf(stderr, "sotagw: events: %s\n", gw_strerror(rc));
    free(page);
    db_close(db);
    return CLI_EXIT_RUNTIME;
}

/* ---- package ------------------------------------------------------------- */

static const char package_usage[] =
    "usage: sotagw package [--db PATH | --config FILE] add --version V\n"
    "                      --md5 HEX --size N [--sha256 HEX] [--notes TEXT]\n"
    "       sotagw package [--db PATH | --config FILE] list\n"
    "       sotagw package [--db PATH | --config FILE] remove ID\n";

/* Copy a hex digest of exactly len digits, lower-cased. */
static int hex_arg(const char *name, const char *s, size_t len, char *out)
{
    if (strlen(s) != len) {
        fprintf(stderr,
                "sotagw: --%s: want %zu hex digits, got %zu "
                "characters\n",
                name, len, strlen(s));
        return CLI_EXIT_USAGE;
    }
    for (size_t i = 0; i < len; i++) {
        if (!isxdigit((unsigned char)s[i])) {
            fprintf(stderr, "sotagw: --%s: '%c' is not a hex digit\n", name,
                    isprint((unsigned char)s[i]) ? s[i] : '?');
            return CLI_EXIT_USAGE;
        }
        out[i] = (char)tolower((unsigned char)s[i]);
    }
    out[len] = '\0';
    return 0;
}

/* Check every argument before the database is touched. */
static int package_add_args(int argc, char **argv, struct db_package *out)
{
    static const struct option opts[] = {
        {"version", required_argument, NULL, 'v'},
        {"md5", required_argument, NULL, 'm'},
        {"sha256", required_argument, NULL, 's'},
        {"size", required_argument, NULL, 'z'},
        {"notes", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0}};
    struct db_package p;
    int have_md5 = 0, c;
    int64_t size = 0;

    memset(&p, 0, sizeof p);
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'v':
            if (!*optarg || strlen(optarg) > DB_VERSION_MAX) {
                fprintf(stderr, "sotagw: --version: want 1..%d characters\n",
                        DB_VERSION_MAX);
                return CLI_EXIT_USAGE;
            }
            for (const char *q = optarg; *q; q++) {
                if (*q <= 0x20 || *q >= 0x7f) {
                    fprintf(stderr, "sotagw: --version: only printable "
                                    "ASCII without blanks\n");
                    return CLI_EXIT_USAGE;
                }
            }
            snprintf(p.version, sizeof p.version, "%s", optarg);
            break;
        case 'm':
            if (hex_arg("md5", optarg, DB_MD5_HEX, p.md5) != 0)
                return CLI_EXIT_USAGE;
            have_md5 = 1;
            break;
        case 's':
            if (hex_arg("sha256", optarg, DB_SHA256_HEX, p.sha256) != 0)
                return CLI_EXIT_USAGE;
            break;
        case 'z':
            /* The module's SOTA size field and the profile's image_size
             * are 32-bit. */
            if (parse_int(optarg, 1, UINT32_MAX, &size) < 0) {
                fprintf(stderr, "sotagw: --size: want bytes, 1..%" PRIu32 "\n",
                        UINT32_MAX);
                return CLI_EXIT_USAGE;
            }
            break;
        case 'n':
            if (strlen(optarg) > DB_NOTES_MAX) {
                fprintf(stderr, "sotagw: --notes: at most %d bytes\n",
                        DB_NOTES_MAX);
                return CLI_EXIT_USAGE;
            }
            snprintf(p.notes, sizeof p.notes, "%s", optarg);
            break;
        default: fputs(package_usage, stderr); return CLI_EXIT_USAGE;
        }
    }
    if (optind != argc || !p.version[0] || !have_md5 || size == 0) {
        fprintf(stderr, "sotagw: package add: --version, --md5 and --size "
                        "are required\n");
        return CLI_EXIT_USAGE;
    }
    p.size = size;
    *out = p;
    return 0;
}

static int package_add(struct db *db, struct db_package *pkg)
{
    struct db_package p = *pkg;
    char detail[256];
    int rc;

    p.created_ms = gw_wall_ms();
    rc = db_package_add(db, &p);
    if (rc == -EEXIST) {
        fprintf(stderr,
                "sotagw: package add: an image of %" PRId64
                " bytes with md5 %s is already registered\n",
                p.size, p.md5);
        return CLI_EXIT_RUNTIME;
    }
    if (rc < 0) {
        fprintf(stderr, "sotagw: package add: %s\n", gw_strerror(rc));
        return rc == GW_E_INVAL || rc == GW_E_RANGE ? CLI_EXIT_USAGE
                                                    : CLI_EXIT_RUNTIME;
    }
    snprintf(detail, sizeof detail,
             "{\"id\":%" PRId64 ",\"version\":\"%s\",\"size\":%" PRId64
             ",\"md5\":\"%s\"}",
             p.id, p.version, p.size, p.md5);
    rc = db_event_append(db, p.created_ms, NULL, 0, "package.added", "cli",
                         detail, NULL);
    if (rc < 0)
        fprintf(stderr, "sotagw: warning: event not recorded: %s\n",
                gw_strerror(rc));
    printf("package %" PRId64 " added: version %s, %" PRId64 " bytes\n", p.id,
           p.version, p.size);
    return CLI_EXIT_OK;
}

static int package_list(struct db *db)
{
    struct db_package *page = calloc(CLI_PAGE, sizeof *page);
    int64_t after = 0;
    size_t n;
    int rc;

    if (!page) {
        fprintf(stderr, "sotagw: out of memory\n");
        return CLI_EXIT_RUNTIME;
    }
    printf("%6s %-16s %10s %-32s %-20s %s\n", "ID", "VERSION", "SIZE", "MD5",
           "ADDED", "NOTES");
    do {
        rc = db_package_list(db, after, page, CLI_PAGE, &n);
        if (rc < 0) {
            fprintf(stderr, "sotagw: package list: %s\n", gw_strerror(rc));
            free(page);
            return CLI_EXIT_RUNTIME;
        }
        for (size_t i = 0; i < n; i++) {
            char when[32];

            time_iso(page[i].created_ms, when, sizeof when);
            printf("%6" PRId64 " %-16s %10" PRId64 " %-32s %-20s ", page[i].id,
                   page[i].version, page[i].size, page[i].md5, when);
            print_safe(stdout, page[i].notes);
            putchar('\n');
            after = page[i].id;
        }
    } while (n == CLI_PAGE);
    free(page);
    return CLI_EXIT_OK;
}

static int package_remove(struct db *db, int64_t id)
{
    char detail[64];
    int rc;

    rc = db_package_remove(db, id);
    if (rc == GW_E_NOTFOUND) {
        fprintf(stderr, "sotagw: package remove: no package %" PRId64 "\n", id);
        return CLI_EXIT_RUNTIME;
    }
    if (rc == GW_E_STATE) {
        fprintf(stderr,
                "sotagw: package remove: package %" PRId64
                " is used by an unfinished job\n",
                id);
        return CLI_EXIT_RUNTIME;
    }
    if (rc < 0) {
        fprintf(stderr, "sotagw: package remove: %s\n", gw_strerror(rc));
        return CLI_EXIT_RUNTIME;
    }
    snprintf(detail, sizeof detail, "{\"id\":%" PRId64 "}", id);
    rc = db_event_append(db, gw_wall_ms(), NULL, 0, "package.removed", "cli",
                         detail, NULL);
    if (rc < 0)
        fprintf(stderr, "sotagw: warning: event not recorded: %s\n",
                gw_strerror(rc));
    printf("package %" PRId64 " removed\n", id);
    return CLI_EXIT_OK;
}

int cmd_package(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    struct db_opts o = {0};
    struct db_package pkg;
    struct db *db = NULL;
    const char *verb;
    int64_t id = 0;
    int c, rc;

    optind = 1;
    /* "+": stop at the verb; its own options follow it. */
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        switch (c) {
        case 'd': o.db = optarg; break;
        case 'c': o.config = optarg; break;
        case 'h': fputs(package_usage, stdout); return CLI_EXIT_OK;
        default: fputs(package_usage, stderr); return CLI_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fputs(package_usage, stderr);
        return CLI_EXIT_USAGE;
    }
    verb = argv[optind];
    if (strcmp(verb, "add") != 0 && strcmp(verb, "list") != 0 &&
        strcmp(verb, "remove") != 0) {
        fprintf(stderr, "sotagw: package: unknown verb '%s'\n", verb);
        fputs(package_usage, stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(verb, "list") == 0 && optind + 1 != argc) {
        fputs(package_usage, stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(verb, "add") == 0) {
        rc = package_add_args(argc - optind, argv + optind, &pkg);
        if (rc != 0)
            return rc;
    }
    if (strcmp(verb, "remove") == 0 &&
        (argc - optind != 2 ||
         parse_int(argv[optind + 1], 1, INT64_MAX, &id) < 0)) {
        fprintf(stderr, "sotagw: package remove: want one package ID (see "
                        "`sotagw package list`)\n");
        return CLI_EXIT_USAGE;
    }
    rc = open_db(
        &o, strcmp(verb, "list") == 0 ? DB_OPEN_READONLY : DB_OPEN_READWRITE,
        &db);
    if (rc != 0)
        return rc;
    if (strcmp(verb, "add") == 0)
        rc = package_add(db, &pkg);
    else if (strcmp(verb, "remove") == 0)
        rc = package_remove(db, id);
    else
        rc = package_list(db);
    db_close(db);
    return rc;
}
