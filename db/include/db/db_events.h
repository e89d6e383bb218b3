/* db/db_events.h: the append-only audit trail.
 *
 * Each event has an id that only grows (a cursor for "what happened since"),
 * a time, optionally a device and a job, a kind ("job.created",
 * "device.seen"...), an actor ("daemon", "api:<token-id>", "cli") and a
 * detail (text or JSON). The schema refuses UPDATE and DELETE.
 *
 * Bounds: kind 1..32 and actor 1..64 printable ASCII, else GW_E_INVAL (an
 * identifier is never silently changed). detail is truncated to
 * DB_DETAIL_MAX bytes at a UTF-8 boundary and marked with a trailing
 * DB_DETAIL_TRUNC_MARK: the audit record is kept rather than lost for its
 * length. A truncated JSON detail is no longer valid JSON; readers must
 * check the mark. */
#ifndef DB_DB_EVENTS_H
#define DB_DB_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "db/db.h"
#include "db/db_devices.h"

#define DB_KIND_MAX          32
#define DB_ACTOR_MAX         64
#define DB_DETAIL_MAX        4096
#define DB_DETAIL_TRUNC_MARK "...[truncated]"

struct db_event {
    int64_t id;
    int64_t time_ms;
    char imei[DB_IMEI_LEN + 1]; /* "" when not about one device */
    int64_t job_id;             /* 0 when not about one job */
    char kind[DB_KIND_MAX + 1];
    char actor[DB_ACTOR_MAX + 1];
    char detail[DB_DETAIL_MAX + 1];
};

/* Append an event. imei NULL or "" and job_id 0 mean "none"; detail NULL
 * means "". *id (may be NULL) gets the new event's id. */
int db_event_append(struct db *db, int64_t time_ms, const char *imei,
                    int64_t job_id, const char *kind, const char *actor,
                    const char *detail, int64_t *id);

/* Events with id > after_id in id order, at most cap; imei NULL for all
 * devices. Paging with the last id seen never skips or repeats an event. */
int db_event_list(struct db *db, const char *imei, int64_t after_id,
                  struct db_event *out, size_t cap, size_t *n);

#endif
