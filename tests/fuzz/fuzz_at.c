/* fuzz_at.c: libFuzzer target over the AT framer and the M531x decoders.
 *
 * The input is a byte stream from a modem. It goes through:
 *   - at_classify_line() on the raw input, with and without a pending
 *     command;
 *   - two framers, one fed the whole input and one fed in pieces whose
 *     sizes come from the input itself; both must deliver the same lines
 *     (a digest is compared), whatever the split;
 *   - for every URC, m531x_decode_urc() in the three opaque-length modes
 *     and, for a write that decodes, m531x_write_data() into a large and a
 *     small buffer;
 *   - for every other text line, the reply parsers.
 * Contract violations (a line over AT_LINE_MAX, a missing NUL, a byte
 * count over the buffer, ...) abort, so the fuzzer reports them.
 *
 * The same file builds with replay_main.c into a plain program that feeds
 * every corpus file once (GW_FUZZ=OFF). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dio/at_frame.h"
#include "dio/m531x.h"
#include "fuzz.h"

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            abort();                                                           \
    } while (0)

struct fuzz_run {
    struct at_framer *fr;
    uint64_t digest; /* FNV-1a over every delivered line */
    size_t lines;
};

static const char *const pendings[] = {
    NULL,          "AT+CGSN=1", "AT+MIPLCREATE", "AT+CSQ",        "AT+CEREG?",
    "AT+MIPLVER?", "AT+CIMI",   "AT+ICCID",      "AT+MIPLSOTA=1",
};

static uint64_t fnv(uint64_t h, const void *data, size_t len)
{
    const uint8_t *p = data;
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211u;
    }
    return h;
}

static void decode_urc(const struct at_line *line)
{
    static const enum m531x_opaque_len modes[] = {
        M531X_OPAQUE_AUTO, M531X_OPAQUE_BYTES, M531X_OPAQUE_HEX};
    static uint8_t data[AT_LINE_MAX];
    size_t i;

    (void)m531x_is_mipl_urc(line->text, line->len);
    for (i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        struct m531x_urc urc;
        int rc = m531x_decode_urc(line->text, line->len, modes[i], &urc);

        if (rc < 0) {
            CHECK(urc.reason != NULL);
            continue;
        }
        CHECK(rc == 0);
        CHECK(m531x_urc_kind_name(urc.kind) != NULL);
        if (urc.kind == M531X_URC_EVENT)
            (void)m531x_event_name(urc.u.event.evt);
        if (urc.kind != M531X_URC_WRITE)
            continue;
        /* The value points into the line. */
        CHECK(urc.u.write.value >= line->text);
        CHECK(urc.u.write.value + urc.u.write.value_len <=
              line->text + line->len);
        rc = m531x_write_data(&urc, data, sizeof data);
        CHECK(rc < 0 || (size_t)rc <= sizeof data);
        if (rc >= 0 && urc.u.write.type == M531X_TYPE_OPAQUE)
            CHECK((size_t)rc == urc.u.write.data_len);
        rc = m531x_write_data(&urc, data, 3);
        CHECK(rc < 0 || rc <= 3);
    }
}

static void parse_replies(const struct at_line *line)
{
    char imei[16];
    char imsi[16];
    char iccid[21];
    int vals[6];
    int a;
    int b;

    if (m531x_parse_cgsn(line->text, line->len, imei) == 0)
        CHECK(strlen(imei) == M531X_IMEI_LEN);
    if (m531x_parse_cimi(line->text, line->len, imsi) == 0)
        CHECK(strlen(imsi) <= M531X_IMSI_MAX);
    if (m531x_parse_iccid(line->text, line->len, iccid) == 0)
        CHECK(strlen(iccid) <= M531X_ICCID_MAX);
    (void)m531x_parse_csq(line->text, line->len, &a, &b);
    (void)m531x_parse_cesq(line->text, line->len, vals);
    (void)m531x_parse_cereg(line->text, line->len, 0, &a);
    (void)m531x_parse_cereg(line->text, line->len, 1, &a);
    (void)m531x_parse_cgatt(line->text, line->len, &a);
}

static void on_line(const struct at_line *line, void *ctx)
{
    struct fuzz_run *run = ctx;
    uint8_t tag[2];

    CHECK(line->len <= AT_LINE_MAX);
    CHECK(line->text[line->len] == '\0');
    CHECK((line->kind == AT_LINE_FINAL) == (line->final != AT_FINAL_NONE));
    CHECK(line->code >= -1);
    CHECK(at_line_kind_name(line->kind)[0] != '?');
    CHECK(at_final_kind_name(line->final)[0] != '?');
    tag[0] = (uint8_t)line->kind;
    tag[1] = (uint8_t)line->final;
    run->digest = fnv(run->digest, tag, sizeof tag);
    run->digest = fnv(run->digest, &line->code, sizeof line->code);
    run->digest = fnv(run->digest, line->text, line->len + 1);
    run->lines++;

    switch (line->kind) {
    case AT_LINE_URC:
        decode_urc(line);
        parse_replies(line);
        break;
    case AT_LINE_INFO:
    case AT_LINE_UNKNOWN:
        parse_replies(line);
        /* A stray +MIPL text must not upset the decoder either. */
        decode_urc(line);
        break;
    case AT_LINE_COMMAND:
        /* As the decode tool does: the echo names the pending command. */
        at_framer_set_pending(run->fr, line->text);
        break;
    case AT_LINE_FINAL: CHECK(!at_framer_pending(run->fr)); break;
    case AT_LINE_GARBAGE:
    case AT_LINE_OVERLONG: break;
    }
}

static void frame(const uint8_t *data, size_t size, const char *pending,
                  int split, struct fuzz_run *run)
{
    size_t at = 0;

    run->fr = at_framer_new();
    CHECK(run->fr != NULL);
    run->digest = 14695981039346656037u;
    run->lines = 0;
    if (pending != NULL)
        at_framer_set_pending(run->fr, pending);
    while (at < size) {
        /* Piece sizes 1..16 taken from the data itself. */
        size_t n = split ? (size_t)(data[at] & 15u) + 1 : size - at;

        if (n > size - at)
            n = size - at;
        at_framer_feed(run->fr, data + at, n, on_line, run);
        at += n;
    }
    at_framer_flush(run->fr, on_line, run);
    CHECK(at_framer_stats(run->fr)->lines == run->lines);
    at_framer_free(run->fr);
    run->fr = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *pending = NULL;
    struct fuzz_run whole;
    struct fuzz_run pieces;
    struct at_line line;

    at_classify_line((const char *)data, size, NULL, &line);
    CHECK(line.text == (const char *)data && line.len == size);
    at_classify_line((const char *)data, size, "AT+CGSN=1", &line);
    if (size > 0)
        pending = pendings[data[0] % (sizeof pendings / sizeof pendings[0])];

    frame(data, size, pending, 0, &whole);
    frame(data, size, pending, 1, &pieces);
    CHECK(whole.lines == pieces.lines);
    CHECK(whole.digest == pieces.digest);
    return 0;
}
