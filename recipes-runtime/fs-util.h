/* SPDX-License-Identifier: MIT */
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include "macro.h"

/* Reads a whole file, failing with -EFBIG past max bytes. The result is NUL-terminated.
 * read_full_fd() reads what is left of an open file the same way. */
int read_full_file(const char *path, size_t max, char **ret, size_t *ret_len);
int read_full_fd(int fd, size_t max, char **ret, size_t *ret_len);
/* Writes all of data, retrying short writes and EINTR; 0 or -errno. */
int loop_write(int fd, const void *data, size_t len);

typedef enum WriteFlags {
        /* fsync the file before the rename and the directory after it: the write survives a
         * crash. Without it readers still see the old or the new file, never a half-written
         * one, but a crash may lose the write (the caller syncs later, or does not need it). */
        WRITE_SYNC = 1 << 0,
} WriteFlags;

/* Writes data to a temp file next to path, sets mode/owner, renames it over path.
 * uid/gid (uid_t) -1 leave ownership as created. */
int write_file_atomic_full(const char *path, const void *data, size_t len, mode_t mode, uid_t uid,
                           gid_t gid, WriteFlags flags);
/* The same with WRITE_SYNC: what the agent's own state needs. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, uid_t uid,
                      gid_t gid);
/* The part of it that fills the new temp file fd: writes data, sets owner (unless uid and gid
 * are both -1) and mode, and with WRITE_SYNC fsyncs, so the file is ready to be renamed into
 * place. */
int write_temp_file(int fd, const void *data, size_t len, mode_t mode, uid_t uid, gid_t gid,
                    WriteFlags flags);

/* mkdir -p, path itself included; created components get exactly mode (the umask does not
 * apply), existing ones are left alone. */
int mkdir_parents(const char *path, mode_t mode);

/* rm -rf of one path, not crossing mount points. Missing path is not an error. Symlinks are
 * removed, never followed. A mount point below path is left in place (-EXDEV); "/" is refused
 * (-EPERM). */
int rm_rf(const char *path);

/* Owner/group names or numbers to ids. A uid missing from the user database is accepted, with
 * *ret_gid (gid_t) -1. Unknown names: -ESRCH. */
int resolve_user(const char *name, uid_t *ret_uid, gid_t *ret_gid);
int resolve_group(const char *name, gid_t *ret_gid);

/* A user or group name that useradd and groupadd accept everywhere and that cannot be mistaken
 * for an option; USER_GROUP_NAME_RULE says which in words, for error messages. */
#define USER_GROUP_NAME_RULE "letters, digits, '.', '_' and '-', not starting with '-', at most 32"
bool valid_user_group_name(const char *s);

/* Hex sha256 of a file or buffer, through libarchive-free plain code paths. */
int sha256_file_hex(const char *path, char ret[static 65]);
int sha256_hex(const void *data, size_t len, char ret[static 65]);

/* Keeps a directory from growing forever: removes the oldest regular files (by modification
 * time) beyond the newest keep_count, and those older than keep_days (0: no such limit).
 * Names starting with '.' (files being written) are left alone. Returns how many it removed. */
int prune_directory(const char *dir, unsigned keep_count, unsigned keep_days);
