/* fake_bus.c: dio/mb_bus.h in memory (see fake_bus.h). */
#include "fake_bus.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "gw/err.h"

#define OPS_MAX 8

enum op_kind { OP_IDENT, OP_FLASH };

struct op {
    int active;
    enum op_kind kind;
    void *ctx;
    mb_bus_ident_fn *ident_cb;
    mb_bus_flash_progress_fn *progress;
    mb_bus_flash_done_fn *done;
    char path[512];
    uint32_t size, crc;
    char expect[MB_VERSION_MAX + 1];
};

struct mb_bus_dev {
    struct mb_bus_set *bs;
    char name[64];
    int refs;
};

struct mb_bus_set {
    uv_loop_t *loop;
    uv_timer_t timer;
    struct mb_bus_policy policy;
    struct mb_bus_dev dev;
    struct fake_dev model;
    struct op ops[OPS_MAX];
};

struct fake_dev *fake_bus_dev(struct mb_bus_set *bs)
{
    return &bs->model;
}

/* One request of the planner against the model. */
static void exec_req(struct fake_dev *m, const struct mb_req *req,
                     const uint8_t *image, struct mb_res *res)
{
    memset(res, 0, sizeof *res);
    res->kind = MB_RES_OK;
    switch (req->kind) {
    case MB_REQ_READ_IDENT: res->ident = &m->id; return;
    case MB_REQ_BEGIN: break; /* handled by the caller (needs size and crc) */
    case MB_REQ_BLOCK:
        if (req->offset != m->id.received ||
            req->offset + req->len > FAKE_IMAGE_MAX) {
            res->kind = MB_RES_EXCEPTION;
            res->exception = 3;
            return;
        }
        memcpy(m->image + req->offset, image + req->offset, req->len);
        m->id.received += req->len;
        return;
    case MB_REQ_VERIFY:
        if ((uint32_t)crc32(0, m->image, m->id.image_size) == m->id.image_crc) {
            m->id.state = MB_DEV_VERIFIED;
        } else {
            m->id.state = MB_DEV_FAILED;
            m->id.error = MB_DEVERR_CRC;
        }
        return;
    case MB_REQ_APPLY:
        m->id.state = MB_DEV_IDLE;
        snprintf(m->id.sw_version, sizeof m->id.sw_version, "%s",
                 m->next_version);
        m->id.free_kib = m->free_after;
        return;
    case MB_REQ_WAIT:
    case MB_REQ_DONE: return;
    }
}

static void run_flash(struct mb_bus_set *bs, struct op *op)
{
    struct fake_dev *m = &bs->model;
    struct mb_flash f;
    struct mb_req req;
    struct mb_res res = {.kind = MB_RES_START};
    uint8_t *image = calloc(1, op->size + 1);
    FILE *fp = fopen(op->path, "rb");
    int64_t now = 0;

    mb_flash_init(&f, &bs->policy.flash, op->size, op->crc, op->expect);
    if (image == NULL || fp == NULL ||
        fread(image, 1, op->size, fp) != op->size) {
        f.result = MB_FLASH_FAILED;
        snprintf(f.reason, sizeof f.reason, "fake: image unreadable");
        goto done;
    }
    m->flashes++;
    for (int guard = 0; guard < 100000; guard++) {
        if (mb_flash_next(&f, &res, now, &req) != 0 || req.kind == MB_REQ_DONE)
            break;
        if (req.kind == MB_REQ_WAIT) {
            now = req.at;
            res = (struct mb_res){.kind = MB_RES_WAITED};
            continue;
        }
        if (req.kind == MB_REQ_BEGIN) {
            if (m->id.image_size != op->size || m->id.image_crc != op->crc)
                m->id.received = 0;
            m->id.image_size = op->size;
            m->id.image_crc = op->crc;
            m->id.state = MB_DEV_RECEIVING;
            m->id.error = MB_DEVERR_NONE;
            res = (struct mb_res){.kind = MB_RES_OK};
        } else {
            exec_req(m, &req, image, &res);
        }
        now += 5;
        if (op->progress != NULL)
            op->progress(op->ctx, f.acked, f.phase);
    }
done:
    if (fp != NULL)
        fclose(fp);
    free(image);
    op->done(op->ctx, &f);
}

static void on_timer(uv_timer_t *t)
{
    struct mb_bus_set *bs = t->data;

    for (int i = 0; i < OPS_MAX; i++) {
        struct op op = bs->ops[i];

        if (!op.active)
            continue;
        bs->ops[i].active = 0;
        if (op.kind == OP_IDENT) {
            if (bs->model.ident_fails > 0) {
                bs->model.ident_fails--;
                op.ident_cb(op.ctx, -ETIMEDOUT, NULL);
            } else {
                struct mb_ident id = bs->model.id;

                op.ident_cb(op.ctx, 0, &id);
            }
        } else {
            run_flash(bs, &op);
        }
    }
}

int mb_bus_set_new(struct mb_bus_set **out, uv_loop_t *loop,
                   const struct mb_bus_policy *policy)
{
    struct mb_bus_set *bs = calloc(1, sizeof *bs);

    if (bs == NULL)
        return -ENOMEM;
    bs->loop = loop;
    bs->policy = *policy;
    bs->dev.bs = bs;
    snprintf(bs->dev.name, sizeof bs->dev.name, "fake:unit1");
    bs->model.id.profile = MB_PROFILE_ID;
    snprintf(bs->model.id.sw_version, sizeof bs->model.id.sw_version, "test0");
    bs->model.id.battery = 100;
    bs->model.id.free_kib = 256;
    bs->model.id.max_block = 240;
    bs->model.free_after = 128;
    snprintf(bs->model.next_version, sizeof bs->model.next_version, "test000");
    uv_timer_init(loop, &bs->timer);
    bs->timer.data = bs;
    *out = bs;
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

void mb_bus_set_free(struct mb_bus_set *bs)
{
    if (bs == NULL)
        return;
    uv_close((uv_handle_t *)&bs->timer, on_closed);
}

int mb_bus_dev_get(struct mb_bus_set *bs, const struct mb_uri *uri,
                   struct mb_bus_dev **out)
{
    (void)uri;
    bs->dev.refs++;
    *out = &bs->dev;
    return 0;
}

void mb_bus_dev_put(struct mb_bus_dev *d)
{
    if (d != NULL)
        d->refs--;
}

const char *mb_bus_dev_name(const struct mb_bus_dev *d)
{
    return d->name;
}

static struct op *op_new(struct mb_bus_set *bs, enum op_kind kind, void *ctx)
{
    for (int i = 0; i < OPS_MAX; i++) {
        if (!bs->ops[i].active) {
            memset(&bs->ops[i], 0, sizeof bs->ops[i]);
            bs->ops[i].active = 1;
            bs->ops[i].kind = kind;
            bs->ops[i].ctx = ctx;
            uv_timer_start(&bs->timer, on_timer, 0, 0);
            return &bs->ops[i];
        }
    }
    return NULL;
}

int mb_bus_read_ident(struct mb_bus_dev *d, mb_bus_ident_fn *cb, void *ctx)
{
    struct op *op = op_new(d->bs, OP_IDENT, ctx);

    if (op == NULL)
        return GW_E_FULL;
    op->ident_cb = cb;
    return 0;
}

int mb_bus_flash(struct mb_bus_dev *d, const struct mb_bus_flash_req *req,
                 mb_bus_flash_progress_fn *progress, mb_bus_flash_done_fn *done,
                 void *ctx)
{
    struct op *op = op_new(d->bs, OP_FLASH, ctx);

    if (op == NULL)
        return GW_E_FULL;
    op->progress = progress;
    op->done = done;
    snprintf(op->path, sizeof op->path, "%s", req->image_path);
    op->size = req->size;
    op->crc = req->crc;
    snprintf(op->expect, sizeof op->expect, "%s",
             req->expect_version != NULL ? req->expect_version : "");
    return 0;
}

void mb_bus_cancel(struct mb_bus_dev *d, void *ctx)
{
    for (int i = 0; i < OPS_MAX; i++)
        if (d->bs->ops[i].ctx == ctx)
            d->bs->ops[i].active = 0;
}
