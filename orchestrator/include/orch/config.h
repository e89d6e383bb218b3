/* orch/config.h: the daemon's configuration, parsed from INI text.
 *
 * Pure: the shell reads the file (at most GW_CONFIG_FILE_MAX bytes) and
 * passes its text here; the parser does no I/O and reads no clock.
 * Text -> validated struct gw_config, or an error naming the file, the line
 * and the reason. The result is never modified after gw_config_parse()
 * returns: modules take a const pointer and copy what they need at _new.
 * On SIGHUP the shell parses a fresh config and swaps it in only if it
 * validates.
 *
 * Syntax (libinih, see docs/CONFIG.md): [section] headers, key = value
 * lines, comments on lines starting with ';' or '#', inline comments after
 * " ;". Unknown sections, unknown keys and keys given twice are errors: a
 * typo must not be silently ignored. Indentation is ignored; there are no
 * continuation lines. */
#ifndef ORCH_CONFIG_H
#define ORCH_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "dio/m531x.h"
#include "dio/mb_uri.h"
#include "gw/imei.h"
#include "gw/log.h"

#define GW_CONFIG_FILE_MAX    (1024 * 1024) /* bytes of config text */
#define GW_CONFIG_LINE_MAX    1024          /* chars of one line */
#define GW_CONFIG_TARGETS_MAX 1024          /* [target ...] sections */
#define GW_CONFIG_PORTS_MAX   32            /* globs in [modems] ports */
#define GW_CONFIG_PATH_MAX    256           /* paths, incl. the NUL */
#define GW_CONFIG_HOST_MAX    254           /* host names, incl. the NUL */
#define GW_CONFIG_ERR_MAX     512

/* ---- field-device target URIs ------------------------------------------ */

/* The URI parser is device_io's (dio/mb_uri.h), the IMEI check common's
 * (gw/imei.h). */

/* ---- the configuration ------------------------------------------------- */

enum gw_target_match {
    GW_TARGET_BY_IMEI, /* [target imei:IMEI] */
    GW_TARGET_BY_PORT  /* [target port:PATH] */
};

struct gw_config_target {
    enum gw_target_match match;
    char key[GW_CONFIG_PATH_MAX]; /* the IMEI or the port path */
    struct mb_uri uri;
    unsigned line; /* of the section header */
};

struct gw_config_gateway {
    char state_dir[GW_CONFIG_PATH_MAX];
    char db[GW_CONFIG_PATH_MAX]; /* absolute after parsing */
    enum gw_log_level log_level;
};

struct gw_config_modems {
    char ports[GW_CONFIG_PORTS_MAX][GW_CONFIG_PATH_MAX]; /* globs */
    size_t nports;
    unsigned baud;
    unsigned lifetime_s;
    unsigned open_timeout_s;
    unsigned keepalive_pct;      /* AT+MIPLUPDATE at this share of lifetime */
    unsigned reg_retries;        /* registration retries before escalating */
    unsigned late_event_s;       /* a deleted instance's event 15 this late */
    char reboot_cmd[24];         /* escalation reboot, "" none */
    unsigned reboot_timeout_s;   /* reboot command to boot banner */
    unsigned reg_fail_backoff_s; /* "failed: registration" to the next try */
    unsigned readings_s;         /* signal and network registration reads */
};

struct gw_config_web {
    char listen_host[GW_CONFIG_HOST_MAX];
    uint16_t listen_port;
    char token_file[GW_CONFIG_PATH_MAX]; /* absolute after parsing */
    int read_requires_token;
    char tls_cert[GW_CONFIG_PATH_MAX]; /* "" = plain HTTP */
    char tls_key[GW_CONFIG_PATH_MAX];
};

struct gw_config_policy {
    unsigned downloads_per_hub;
    unsigned flash_per_bus;
    unsigned job_stall_timeout_s;
    unsigned retry_budget;
    unsigned retry_backoff_min_s;
    unsigned retry_backoff_max_s;
    uint64_t min_staging_free_kib;
};

struct gw_config {
    struct gw_config_gateway gateway;
    struct gw_config_modems modems;
    struct m531x_dialect dialect;
    struct gw_config_web web;
    struct gw_config_policy policy;
    struct gw_config_target *targets; /* ntargets entries */
    size_t ntargets;
};

struct gw_config_error {
    unsigned line;               /* 1-based; 0: about the whole file */
    char msg[GW_CONFIG_ERR_MAX]; /* "FILE:LINE: reason" */
};

/* gw_config_parse: parse len bytes of text (need not be NUL-terminated)
 * read from file_name (used in messages only).
 *
 * Returns 0 and sets *out (free with gw_config_free()), or returns
 * GW_E_CONFIG (GW_E_TOOLONG for a file over GW_CONFIG_FILE_MAX, -ENOMEM)
 * with *out NULL and err filled (err may be NULL). The first error stops
 * the parse. */
int gw_config_parse(struct gw_config **out, const char *file_name,
                    const char *text, size_t len, struct gw_config_error *err);

/* NULL-safe. */
void gw_config_free(struct gw_config *cfg);

/* The target for a modem: an [target imei:] match wins over a
 * [target port:] match; NULL when neither matches. imei or port may be
 * NULL. The pointer is borrowed from cfg. */
const struct gw_config_target *
gw_config_target_find(const struct gw_config *cfg, const char *imei,
                      const char *port);

#endif
