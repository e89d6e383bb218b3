/* db/db_packages.h: the images the operator uploaded.
 *
 * An image is identified by (size, md5); adding the same image twice is
 * -EEXIST. The image bytes live in a file under state_dir; this table holds
 * what the daemon needs to offer and check them. */
#ifndef DB_DB_PACKAGES_H
#define DB_DB_PACKAGES_H

#include <stddef.h>
#include <stdint.h>

#include "db/db.h"
#include "db/db_jobs.h"

#define DB_NOTES_MAX 1024

struct db_package {
    int64_t id;                       /* set by db_package_add() */
    char version[DB_VERSION_MAX + 1]; /* 1..32 printable ASCII */
    char md5[DB_MD5_HEX + 1];         /* 32 lower-case hex */
    char sha256[DB_SHA256_HEX + 1];   /* 64 lower-case hex, or "" */
    int64_t size;                     /* > 0 */
    char notes[DB_NOTES_MAX + 1];     /* operator's free text */
    int64_t created_ms;
};

/* Insert p (all fields but id) and set p->id. Input is checked before
 * SQLite sees it; nothing is truncated (this is operator input, who gets
 * the error): a version outside 1..32 printable characters, a digest that
 * is not lower-case hex of the right length, size <= 0 -> GW_E_INVAL or
 * GW_E_RANGE; an unterminated notes field -> GW_E_TOOLONG. */
int db_package_add(struct db *db, struct db_package *p);

int db_package_get(struct db *db, int64_t id, struct db_package *out);

/* Packages in id order after after_id (0 from the start). */
int db_package_list(struct db *db, int64_t after_id, struct db_package *out,
                    size_t cap, size_t *n);

/* Remove a package. GW_E_NOTFOUND when absent; GW_E_STATE when an
 * unfinished job uses it (finished jobs keep their version and digests,
 * their package_id becomes 0). */
int db_package_remove(struct db *db, int64_t id);

/* The oldest package with this md5 (lower-case hex). */
int db_package_find_md5(struct db *db, const char *md5, struct db_package *out);

/* The package with this (size, md5). */
int db_package_find(struct db *db, int64_t size, const char *md5,
                    struct db_package *out);

#endif
