/* mb_link.c: libmodbus execution of the flash planner's requests. */
#include "dio/mb_link.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dio/fd_place.h"
#include "gw/err.h"

static enum mb_res_kind classify_errno(int err, int *exception)
{
    if (err > MODBUS_ENOBASE && err <= EMBXGTAR) {
        *exception = err - MODBUS_ENOBASE;
        return MB_RES_EXCEPTION;
    }
    if (err == ETIMEDOUT || (err > EMBXGTAR && err <= EMBMDATA))
        return MB_RES_TIMEOUT; /* no answer, or an answer we cannot use */
    return MB_RES_IO_ERROR;
}

/* Connect fd to ai within timeout_ms. 0 or -errno. */
static int connect_one(int fd, const struct addrinfo *ai, int timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    socklen_t len = sizeof(int);
    int err = 0, rc;

    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return 0;
    if (errno != EINPROGRESS)
        return -errno;
    do
        rc = poll(&pfd, 1, timeout_ms);
    while (rc < 0 && errno == EINTR);
    if (rc < 0)
        return -errno;
    if (rc == 0)
        return -ETIMEDOUT;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        return -errno;
    return -err;
}

int mb_link_connect_tcp(modbus_t *ctx, const char *host, unsigned port,
                        int timeout_ms)
{
    struct addrinfo hints, *res = NULL, *ai;
    char service[8];
    int rc = -EHOSTUNREACH;

    if (port < 1 || port > 65535 || timeout_ms < 0)
        return GW_E_RANGE;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    snprintf(service, sizeof service, "%u", port);
    if (getaddrinfo(host, service, &hints, &res) != 0)
        return -EHOSTUNREACH;
    for (ai = res; ai; ai = ai->ai_next) {
        int one = 1;
        int fd =
            socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
                   ai->ai_protocol);

        if (fd < 0) {
            rc = -errno;
            continue;
        }
        fd = fd_move_high(fd);
        /* As libmodbus does: requests are small and wait for replies. */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        rc = connect_one(fd, ai, timeout_ms);
        if (rc == 0) {
            freeaddrinfo(res);
            modbus_set_socket(ctx, fd);
            return fd;
        }
        close(fd);
    }
    freeaddrinfo(res);
    return rc;
}

int mb_link_read_ident(modbus_t *ctx, struct mb_ident *ident)
{
    uint16_t regs[MB_IDENT_REGS];

    errno = 0;
    if (modbus_read_input_registers(ctx, MB_IDENT_ADDR, MB_IDENT_REGS, regs) !=
        MB_IDENT_REGS)
        return -(errno ? errno : EIO);
    return mb_ident_decode(regs, ident);
}

int mb_link_exec(modbus_t *ctx, const struct mb_flash *f,
                 const struct mb_req *req, const uint8_t *image,
                 struct mb_res *res, struct mb_ident *ident)
{
    uint16_t regs[MB_BLOCK_REGS_MAX];
    int n = 0, addr = MB_CMD_ADDR, rc;

    memset(res, 0, sizeof *res);
    errno = 0;
    switch (req->kind) {
    case MB_REQ_READ_IDENT:
        rc = modbus_read_input_registers(ctx, MB_IDENT_ADDR, MB_IDENT_REGS,
                                         regs);
        if (rc != MB_IDENT_REGS)
            goto failed;
        res->kind = MB_RES_OK;
        res->ident_rc = mb_ident_decode(regs, ident);
        res->ident = ident;
        return 0;
    case MB_REQ_BEGIN: n = mb_encode_begin(f->size, f->crc, regs); break;
    case MB_REQ_BLOCK:
        if (req->offset > f->size || req->len > f->size - req->offset)
            return GW_E_RANGE;
        n = mb_encode_block(req->offset, image + req->offset, req->len, regs);
        if (n < 0)
            return n;
        addr = MB_BLOCK_ADDR;
        break;
    case MB_REQ_VERIFY:
        regs[0] = MB_CMD_VERIFY;
        n = 1;
        break;
    case MB_REQ_APPLY:
        regs[0] = MB_CMD_APPLY;
        n = 1;
        break;
    case MB_REQ_WAIT:
    case MB_REQ_DONE: return GW_E_INVAL;
    }
    rc = modbus_write_registers(ctx, addr, n, regs);
    if (rc != n)
        goto failed;
    res->kind = MB_RES_OK;
    return 0;

failed:
    res->kind = classify_errno(errno, &res->exception);
    return 0;
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_until(int64_t at)
{
    struct timespec ts = {.tv_sec = at / 1000,
                          .tv_nsec = (long)(at % 1000) * 1000000L};

    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

int mb_link_flash(modbus_t *ctx, struct mb_flash *f, const uint8_t *image,
                  mb_link_progress_fn *progress, void *progress_ctx)
{
    struct mb_res res = {.kind = MB_RES_START};
    struct mb_ident ident;
    struct mb_req req;

    for (;;) {
        int rc = mb_flash_next(f, &res, mono_ms(), &req);

        if (rc < 0)
            return rc;
        if (req.kind == MB_REQ_DONE)
            return 0;
        if (progress && progress(f, progress_ctx) != 0)
            return GW_E_STATE;
        if (req.kind == MB_REQ_WAIT) {
            sleep_until(req.at);
            res = (struct mb_res){.kind = MB_RES_WAITED};
            continue;
        }
        rc = mb_link_exec(ctx, f, &req, image, &res, &ident);
        if (rc < 0)
            return rc;
        if (res.kind == MB_RES_IO_ERROR) {
            /* A TCP peer that went away: reconnect before the retry the
             * planner schedules. RTU contexts reopen the port. */
            modbus_close(ctx);
            if (modbus_connect(ctx) != 0)
                res.kind = MB_RES_IO_ERROR;
        }
    }
}
