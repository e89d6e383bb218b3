-- 0001_initial.sql: the first schema of the sotagw state database.
--
-- Migrations are forward-only. A file that has shipped is never edited; a
-- change is a new file NNNN_<what>.sql. Each file runs in one transaction,
-- and PRAGMA user_version is set to its number in the same transaction.
--
-- Times are integer milliseconds since the Unix epoch (UTC), supplied by the
-- daemon. 0 or NULL means "not yet". Bounds on text columns repeat the
-- limits of db/include/db/*.h, so a row written by another tool cannot
-- overflow the daemon's buffers.

-- One row per modem, keyed on IMEI: a modem that comes back on another
-- port keeps its row, its jobs and its progress.
CREATE TABLE devices (
    imei          TEXT PRIMARY KEY NOT NULL
                  CHECK (length(imei) = 15 AND imei NOT GLOB '*[^0-9]*'),
    state         TEXT NOT NULL DEFAULT 'absent'
                  CHECK (state IN ('absent', 'idle', 'upgrading', 'fault')),
    port          TEXT NOT NULL DEFAULT '' CHECK (length(port) <= 255),
    usb_hub       TEXT NOT NULL DEFAULT '' CHECK (length(usb_hub) <= 63),
    usb_port      INTEGER NOT NULL DEFAULT 0
                  CHECK (usb_port BETWEEN 0 AND 255),
    iccid         TEXT NOT NULL DEFAULT '' CHECK (length(iccid) <= 20),
    imsi          TEXT NOT NULL DEFAULT '' CHECK (length(imsi) <= 15),
    rssi          INTEGER NOT NULL DEFAULT 99 CHECK (rssi BETWEEN 0 AND 99),
    reg_status    INTEGER NOT NULL DEFAULT -1
                  CHECK (reg_status BETWEEN -1 AND 10),
    target_uri    TEXT NOT NULL DEFAULT '' CHECK (length(target_uri) <= 255),
    sw_version    TEXT NOT NULL DEFAULT '' CHECK (length(sw_version) <= 32),
    battery       INTEGER NOT NULL DEFAULT -1
                  CHECK (battery BETWEEN -1 AND 100),
    free_kib      INTEGER NOT NULL DEFAULT -1 CHECK (free_kib >= -1),
    first_seen_ms INTEGER NOT NULL CHECK (first_seen_ms >= 0),
    last_seen_ms  INTEGER NOT NULL CHECK (last_seen_ms >= 0)
) WITHOUT ROWID;

CREATE INDEX devices_by_hub ON devices (usb_hub, imei);

-- Images the operator uploaded. (size, md5) identifies an image.
CREATE TABLE packages (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    version    TEXT NOT NULL CHECK (length(version) BETWEEN 1 AND 32),
    md5        TEXT NOT NULL
               CHECK (length(md5) = 32 AND md5 NOT GLOB '*[^0-9a-f]*'),
    sha256     TEXT NOT NULL DEFAULT ''
               CHECK (sha256 = '' OR (length(sha256) = 64
                                      AND sha256 NOT GLOB '*[^0-9a-f]*')),
    size       INTEGER NOT NULL CHECK (size > 0),
    notes      TEXT NOT NULL DEFAULT '' CHECK (length(notes) <= 1024),
    created_ms INTEGER NOT NULL CHECK (created_ms >= 0),
    UNIQUE (size, md5)
);

CREATE INDEX packages_by_md5 ON packages (md5, id);

-- One row per upgrade attempt. AUTOINCREMENT: an id is never reused, so a
-- job id in the audit trail always names one attempt.
CREATE TABLE jobs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    device_imei   TEXT NOT NULL REFERENCES devices (imei)
                  ON UPDATE CASCADE ON DELETE RESTRICT,
    package_id    INTEGER REFERENCES packages (id) ON DELETE SET NULL,
    version       TEXT NOT NULL CHECK (length(version) BETWEEN 1 AND 32),
    phase         TEXT NOT NULL DEFAULT 'download'
                  CHECK (phase IN ('download', 'check', 'flash', 'confirm',
                                   'done', 'failed')),
    oma_state     INTEGER NOT NULL DEFAULT 0
                  CHECK (oma_state BETWEEN 0 AND 255),
    oma_result    INTEGER NOT NULL DEFAULT 0
                  CHECK (oma_result BETWEEN 0 AND 255),
    bytes_durable INTEGER NOT NULL DEFAULT 0 CHECK (bytes_durable >= 0),
    image_size    INTEGER NOT NULL DEFAULT -1 CHECK (image_size >= -1),
    md5           TEXT NOT NULL DEFAULT ''
                  CHECK (md5 = '' OR (length(md5) = 32
                                      AND md5 NOT GLOB '*[^0-9a-f]*')),
    sha256        TEXT NOT NULL DEFAULT ''
                  CHECK (sha256 = '' OR (length(sha256) = 64
                                         AND sha256 NOT GLOB '*[^0-9a-f]*')),
    staging_file  TEXT NOT NULL DEFAULT '' CHECK (length(staging_file) <= 255),
    last_msgid    INTEGER NOT NULL DEFAULT -1
                  CHECK (last_msgid BETWEEN -1 AND 2147483647),
    flash_acked   INTEGER NOT NULL DEFAULT 0 CHECK (flash_acked >= 0),
    attempt       INTEGER NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    retries       INTEGER NOT NULL DEFAULT 0 CHECK (retries >= 0),
    created_ms    INTEGER NOT NULL CHECK (created_ms >= 0),
    started_ms    INTEGER NOT NULL DEFAULT 0 CHECK (started_ms >= 0),
    progress_ms   INTEGER NOT NULL DEFAULT 0 CHECK (progress_ms >= 0),
    ended_ms      INTEGER NOT NULL DEFAULT 0 CHECK (ended_ms >= 0),
    reason        TEXT NOT NULL DEFAULT '' CHECK (length(reason) <= 255)
);

CREATE INDEX jobs_by_device ON jobs (device_imei, id);
CREATE INDEX jobs_by_package ON jobs (package_id);

-- At most one unfinished job per device.
CREATE UNIQUE INDEX jobs_one_active ON jobs (device_imei)
    WHERE phase NOT IN ('done', 'failed');

-- A finished job stays finished: a retry is a new job.
CREATE TRIGGER jobs_final_phase BEFORE UPDATE OF phase ON jobs
    WHEN OLD.phase IN ('done', 'failed') AND NEW.phase <> OLD.phase
BEGIN
    SELECT RAISE(ABORT, 'job already finished');
END;

-- A package an unfinished job is using cannot be removed.
CREATE TRIGGER packages_in_use BEFORE DELETE ON packages
    WHEN EXISTS (SELECT 1 FROM jobs WHERE package_id = OLD.id
                 AND phase NOT IN ('done', 'failed'))
BEGIN
    SELECT RAISE(ABORT, 'package in use by an unfinished job');
END;

-- The chunks of a job's download that are durable in the staging file, in
-- order. On restart the daemon re-reads the staged prefix, checks each
-- chunk's CRC-32 and cuts the table after the last good one.
CREATE TABLE progress (
    job_id   INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx      INTEGER NOT NULL CHECK (idx BETWEEN 0 AND 4294967295),
    offset   INTEGER NOT NULL CHECK (offset >= 0),
    length   INTEGER NOT NULL CHECK (length BETWEEN 1 AND 65536),
    crc32    INTEGER NOT NULL CHECK (crc32 BETWEEN 0 AND 4294967295),
    msgid    INTEGER NOT NULL CHECK (msgid BETWEEN -1 AND 2147483647),
    PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;

-- The audit trail. Append-only: rows are never updated or deleted, and the
-- id is a cursor that only grows. No foreign keys: an event may name a
-- device or a job that does not (or no longer) exist.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    time_ms     INTEGER NOT NULL CHECK (time_ms >= 0),
    device_imei TEXT CHECK (device_imei IS NULL OR length(device_imei) = 15),
    job_id      INTEGER CHECK (job_id IS NULL OR job_id > 0),
    kind        TEXT NOT NULL CHECK (length(kind) BETWEEN 1 AND 32),
    actor       TEXT NOT NULL CHECK (length(actor) BETWEEN 1 AND 64),
    detail      TEXT NOT NULL DEFAULT '' CHECK (length(detail) <= 4096)
);

CREATE INDEX events_by_device ON events (device_imei, id);

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;

CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;
