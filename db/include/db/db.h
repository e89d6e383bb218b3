/* db/db.h: the sotagw state database (SQLite): connection, transactions.
 *
 * One struct db is one SQLite connection. The daemon opens one read-write
 * connection for its event loop and, if it serves the web API from another
 * thread, one read-only connection for that thread (WAL mode lets it read
 * while the loop writes). A struct db is used by one thread at a time.
 *
 * Durability: the database runs in WAL mode with PRAGMA synchronous=FULL.
 * In WAL mode, synchronous=NORMAL syncs the WAL only at checkpoints, so a
 * transaction acknowledged by COMMIT "might roll back following a power loss
 * or system crash" (SQLite, "PRAGMA synchronous"). FULL syncs the WAL at
 * every commit, so every commit this API reports as done survives a power
 * loss. The cost (one fsync per commit) is why chunk records are grouped:
 * see db_group_begin().
 *
 * Times are int64 milliseconds since the Unix epoch, supplied by the caller;
 * this library never reads a clock.
 *
 * Errors: 0 on success, negative on failure: GW_E_* (gw/err.h) or -errno.
 * The SQLite message is logged (tag "db"). The mapping:
 *   unique key already present   -EEXIST
 *   foreign key (no such device) GW_E_NOTFOUND
 *   CHECK constraint             GW_E_RANGE
 *   schema trigger (job already finished, package in use) GW_E_STATE
 *   database or WAL is busy      -EBUSY (after busy_timeout)
 *   disk full                    -ENOSPC
 *   file is not a database, corrupt GW_E_CORRUPT
 *   read-only connection         -EROFS
 *   out of memory                -ENOMEM
 *   any other I/O failure        -EIO
 */
#ifndef DB_DB_H
#define DB_DB_H

#include <stdint.h>

struct db;

enum db_open_flags {
    DB_OPEN_READWRITE = 0,     /* create if missing, migrate to current */
    DB_OPEN_READONLY = 1 << 0, /* the file must exist at current schema */
    DB_OPEN_NO_CHECK = 1 << 1  /* skip PRAGMA quick_check (tests, tools) */
};

/* How long a statement waits for another connection's lock. */
#define DB_BUSY_TIMEOUT_MS 5000

/* db_open: open (and for read-write, create and migrate) the database.
 *
 * path is a file name or ":memory:". Steps, in order; each failure is
 * logged and returned, and *out stays NULL:
 *   1. the file is read: not a database -> GW_E_CORRUPT;
 *   2. PRAGMA user_version newer than db_schema_latest() -> GW_E_UNKNOWN
 *      (the log names both numbers: the file came from a newer sotagw);
 *   3. PRAGMA quick_check (unless DB_OPEN_NO_CHECK): any finding, a
 *      damaged page or a row that breaks a CHECK constraint, ->
 *      GW_E_CORRUPT, with the first findings logged. The file is never
 *      replaced or repaired: that is the operator's decision. The check
 *      reads the whole file (O(size)), once at start-up;
 *   4. read-write: journal_mode=WAL, synchronous=FULL, foreign_keys=ON,
 *      then each missing migration in its own transaction;
 *      read-only: the schema must already be current, else GW_E_STATE;
 *   5. every statement the repositories use is prepared.
 * The caller owns *out and releases it with db_close(). */
int db_open(struct db **out, const char *path, unsigned flags);

/* Finalize every statement and close. An open transaction is rolled back.
 * NULL-safe. */
void db_close(struct db *db);

/* The schema version this binary applies (the last migration's number). */
int db_schema_latest(void);

/* The schema version of the open database (PRAGMA user_version). */
int db_schema_version(struct db *db);

/* ---- transactions ------------------------------------------------------
 *
 * Outside a transaction every repository call commits by itself (and a
 * multi-statement call is atomic). Between db_tx_begin() and db_tx_commit()
 * the calls share one transaction. Transactions do not nest: db_tx_begin()
 * inside one returns GW_E_STATE. db_tx_begin() takes the write lock at once
 * (BEGIN IMMEDIATE), so a commit never fails for a lock it could not get.
 *
 * If db_tx_commit() fails, the transaction is rolled back: nothing written
 * since db_tx_begin() is stored, and the caller must not acknowledge it. */
int db_tx_begin(struct db *db);
int db_tx_commit(struct db *db);
int db_tx_rollback(struct db *db);
int db_tx_active(const struct db *db);

/* ---- group commit ------------------------------------------------------
 *
 * The daemon receives chunks from many modems in one loop turn. Instead of
 * one fsync per chunk record, it calls db_group_begin() before each write
 * (it opens the group transaction if none is open, else does nothing) and
 * db_group_commit() once per loop turn. A chunk is acknowledged to the
 * modem (AT+MIPLWRITERSP, AT+MIPLSOTA) only after the db_group_commit()
 * that covers it returned 0. db_group_pending() counts the repository
 * writes in the open group (0 when none is open). */
int db_group_begin(struct db *db);
int db_group_commit(struct db *db);
unsigned db_group_pending(const struct db *db);

#endif
