/* SPDX-License-Identifier: MIT */

#include <dirent.h>
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include "command.h"
#include "cp-local.h"
#include "fs-util.h"
#include "json-util.h"
#include "stack.h"
#include "str-util.h"

#define SPOOL_DIR_MODE 0755
#define RESULT_MODE 0644
/* Logs are for the operator (root), not for every local user. */
#define LOG_MODE 0640
/* The local spool keeps the last this many bytes of a command's log. */
#define LOG_MAX (1024U * 1024U)
/* A command the agent did not ack (it could not journal it: disk full) is handed over again
 * after this long. */
#define REDELIVER_USEC (10 * USEC_PER_SEC)

#define INBOX_EVENTS (IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

typedef struct CpLocal {
        ControlPlane cp; /* first: the ControlPlane * handed out points here */

        char *spool, *inbox, *rejected, *results, *logs;
        char *stack_file; /* NULL: a one-instance stack */
        char *instance_id, *stack_id;

        int inotify_fd;
        int inbox_wd;
        sd_event_source *inotify_source;
        sd_event_source *first_scan_source;
        sd_event_source *redeliver_source;

        /* A file is read only once it is complete: closed after writing or renamed in. Names
         * seen in such events since the last scan, as keys. */
        json_object *ready;
        /* Every file counts as complete: the first scan, and after the kernel dropped events. */
        bool scan_all;
        /* File name → command id of commands handed to the sink and not yet acked: they stay in
         * the inbox until then, so a crash before the agent journals them re-delivers them. */
        json_object *delivered;
} CpLocal;

static CpLocal *cp_local(ControlPlane *cp) {
        return (CpLocal *)cp;
}

static void cp_local_free(ControlPlane *cp) {
        CpLocal *l = cp_local(cp);

        sd_event_source_disable_unref(l->inotify_source);
        sd_event_source_disable_unref(l->first_scan_source);
        sd_event_source_disable_unref(l->redeliver_source);
        if (l->inotify_fd >= 0)
                close(l->inotify_fd);
        json_object_put(l->ready);
        json_object_put(l->delivered);
        free(l->inbox);
        free(l->rejected);
        free(l->results);
        free(l->logs);
        free(l->spool);
        free(l->stack_file);
        free(l->instance_id);
        free(l->stack_id);
        sd_event_unref(l->cp.event);
        free(l);
}

/* Byte order whatever the locale: alphasort() compares with strcoll(). */
static int compare_names(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

/* Dot files are temp files on their way in (and "." and ".."). */
static int visible(const struct dirent *de) {
        return de->d_name[0] != '.';
}

/* The id a rejection is reported under: the document's own "id" when it is a valid id, so a
 * sender waiting for results/<id>.json sees it; else the file name without ".json", every
 * character outside [A-Za-z0-9._-] replaced by '_' and cut to 128 characters (the name never
 * starts with '.': dot files are not read). */
static char *rejection_id(const char *name, const char *text, size_t len) {
        _cleanup_json_ json_object *doc = NULL;
        json_object *v;
        char *id;
        size_t n;

        if (text && json_parse_strict(name, text, len, &doc, NULL) >= 0 &&
            json_object_object_get_ex(doc, "id", &v) && json_object_is_type(v, json_type_string) &&
            strlen(json_object_get_string(v)) == (size_t)json_object_get_string_len(v) &&
            command_id_valid(json_object_get_string(v)))
                return strdup(json_object_get_string(v));

        n = endswith(name, ".json") ? strlen(name) - strlen(".json") : strlen(name);
        id = strndup(name, MIN(n, (size_t)128));
        if (!id)
                return NULL;
        for (char *p = id; *p; p++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
                            *p))
                        *p = '_';
        return id;
}

/* Reads an inbox file without following a symlink or blocking on a FIFO. -EMEDIUMTYPE: not a
 * regular file; -EFBIG: past COMMAND_SIZE_MAX. */
static int read_inbox_file(const char *path, char **ret, size_t *ret_len) {
        _cleanup_(strbuf_done) StrBuf b = {.max = COMMAND_SIZE_MAX};
        _cleanup_close_ int fd = -1;
        struct stat st;
        size_t len;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        if (fd < 0)
                return errno == ELOOP ? -EMEDIUMTYPE : -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EMEDIUMTYPE;
        if ((uint64_t)st.st_size > COMMAND_SIZE_MAX)
                return -EFBIG;

        /* st_size is only a hint: the file may still grow. */
        for (;;) {
                char buf[16384];
                ssize_t n;
                int r;

                n = read(fd, buf, sizeof(buf));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                r = strbuf_append(&b, buf, (size_t)n);
                if (r < 0)
                        return r == -E2BIG ? -EFBIG : r;
        }

        len = b.len;
        *ret = strbuf_steal(&b);
        if (!*ret)
                return -ENOMEM;
        *ret_len = len;
        return 0;
}

static void reject(CpLocal *l, const char *name, const char *text, size_t len, const char *reason) {
        _cleanup_free_ char *id = rejection_id(name, text, len);
        _cleanup_free_ char *from = strf("%s/%s", l->inbox, name);
        _cleanup_free_ char *to = strf("%s/%s", l->rejected, name);

        if (!id || !from || !to)
                return;

        /* When the move fails the file stays in the inbox, but it is not read again unless it
         * is rewritten or the backend restarts: the rejection is reported once. */
        if (mkdir_parents(l->rejected, SPOOL_DIR_MODE) >= 0)
                (void)rename(from, to);
        l->cp.sink.command_rejected(id, reason, l->cp.sink.userdata);
}

static void deliver(CpLocal *l, const char *name, json_object *command) {
        json_object *id = json_object_new_string(command_id(command));

        /* Recorded first: the sink may ack before it returns. */
        if (!id || json_object_object_add(l->delivered, name, id) < 0) {
                json_object_put(id);
                return;
        }
        l->cp.sink.command_received(command, l->cp.sink.userdata);
}

static void handle_file(CpLocal *l, const char *name) {
        _cleanup_free_ char *what = strf("inbox/%s", name), *path = strf("%s/%s", l->inbox, name);
        _cleanup_free_ char *text = NULL, *reason = NULL;
        _cleanup_json_ json_object *command = NULL;
        size_t len = 0;
        int r;

        if (!what || !path)
                return;

        if (!endswith(name, ".json")) {
                reason = strf("%s: not a command file (expected a name ending in .json)", what);
                if (reason)
                        reject(l, name, NULL, 0, reason);
                return;
        }

        r = read_inbox_file(path, &text, &len);
        if (r == -ENOENT) /* taken away since the directory was read */
                return;
        if (r == -EMEDIUMTYPE)
                reason = strf("%s: not a regular file", what);
        else if (r == -EFBIG)
                reason = strf("%s: larger than 1 MiB", what);
        else if (r < 0)
                reason = strf("%s: cannot read: %s", what, strerror(-r));
        else {
                r = command_parse(what, text, len, &command, &reason);
                if (r >= 0) {
                        deliver(l, name, command);
                        return;
                }
        }
        if (reason)
                reject(l, name, text, len, reason);
}

/* Arms the redelivery timer while commands wait for their ack, unless it is armed already. */
static int arm_redelivery(CpLocal *l) {
        int enabled, r;

        if (json_object_object_length(l->delivered) == 0)
                return 0;
        r = sd_event_source_get_enabled(l->redeliver_source, &enabled);
        if (r < 0 || enabled != SD_EVENT_OFF)
                return r;
        r = sd_event_source_set_time_relative(l->redeliver_source, REDELIVER_USEC);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(l->redeliver_source, SD_EVENT_ONESHOT);
}

/* Reads the whole inbox in file-name order, whatever order the events came in, and handles the
 * complete files that were not handed over yet. */
static int scan(CpLocal *l) {
        struct dirent **entries = NULL;
        json_object *fresh;
        int n;

        n = scandir(l->inbox, &entries, visible, compare_names);
        if (n < 0)
                return -errno;

        for (int i = 0; i < n; i++) {
                const char *name = entries[i]->d_name;

                if ((l->scan_all || json_object_object_get_ex(l->ready, name, NULL)) &&
                    !json_object_object_get_ex(l->delivered, name, NULL))
                        handle_file(l, name);
                free(entries[i]);
        }
        free(entries);

        fresh = json_object_new_object();
        if (!fresh)
                return -ENOMEM;
        json_object_put(l->ready);
        l->ready = fresh;
        l->scan_all = false;
        return arm_redelivery(l);
}

/* (Re)creates the inbox and watches it: an operator may remove or move it to drop what is
 * queued, and the agent must keep listening on the new one. */
static int watch_inbox(CpLocal *l) {
        int r, wd;

        r = mkdir_parents(l->inbox, SPOOL_DIR_MODE);
        if (r < 0)
                return r;
        wd = inotify_add_watch(l->inotify_fd, l->inbox, INBOX_EVENTS);
        if (wd < 0)
                return -errno;
        if (l->inbox_wd >= 0 && l->inbox_wd != wd)
                (void)inotify_rm_watch(l->inotify_fd, l->inbox_wd); /* gone already if deleted */
        l->inbox_wd = wd;
        /* Files may have arrived while nothing watched. */
        l->scan_all = true;
        return 0;
}

static int mark_ready(CpLocal *l, const char *name) {
        return json_object_object_add(l->ready, name, NULL) < 0 ? -ENOMEM : 0;
}

/* Events only say that something is complete; scan() decides what to read, in order. */
static int on_inotify(sd_event_source *s _unused_, int fd, uint32_t revents _unused_,
                      void *userdata) {
        CpLocal *l = userdata;
        bool rewatch = false;
        int r;

        for (;;) {
                union {
                        struct inotify_event event;
                        char raw[4096];
                } buf;
                ssize_t n;

                n = read(fd, &buf, sizeof(buf));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        return -errno;
                }

                for (char *p = buf.raw; p < buf.raw + n;) {
                        const struct inotify_event *e = (const struct inotify_event *)p;

                        p += sizeof(struct inotify_event) + e->len;
                        if (e->mask & IN_Q_OVERFLOW)
                                l->scan_all = true;
                        else if (e->wd != l->inbox_wd)
                                continue; /* an inbox watched before */
                        else if (e->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED))
                                rewatch = true;
                        else if (e->len > 0 && mark_ready(l, e->name) < 0)
                                l->scan_all = true;
                }
        }

        if (rewatch) {
                r = watch_inbox(l);
                if (r < 0)
                        return r;
        }
        /* A failed scan (out of memory, the inbox gone again) is retried at the next event. */
        (void)scan(l);
        return 0;
}

static int on_first_scan(sd_event_source *s _unused_, void *userdata) {
        (void)scan(userdata);
        return 0;
}

/* Whatever is still not acked is forgotten as delivered and read again, if still there. */
static int on_redeliver(sd_event_source *s _unused_, uint64_t usec _unused_, void *userdata) {
        CpLocal *l = userdata;
        json_object *fresh;

        if (json_object_object_length(l->delivered) == 0)
                return 0;
        fresh = json_object_new_object();
        if (!fresh)
                return arm_redelivery(l);
        json_object_object_foreach (l->delivered, name, id)
                if (mark_ready(l, name) < 0)
                        l->scan_all = true;
        json_object_put(l->delivered);
        l->delivered = fresh;
        (void)scan(l);
        return 0;
}

/* Creates the spool and watches the inbox. The files already there are handed over from the
 * event loop, like every later one, never from inside this call. */
static int cp_local_start(ControlPlane *cp, char **ret_error) {
        CpLocal *l = cp_local(cp);
        const char *dirs[] = {l->rejected, l->results, l->logs};
        int r;

        if (l->inotify_fd >= 0)
                return error_set(ret_error, -EBUSY, "the local control plane is already started");

        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                r = mkdir_parents(dirs[i], SPOOL_DIR_MODE);
                if (r < 0)
                        return error_set(ret_error, r, "%s: cannot create: %s", dirs[i],
                                         strerror(-r));
        }

        l->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (l->inotify_fd < 0) {
                r = -errno;
                return error_set(ret_error, r, "cannot create an inotify instance: %s",
                                 strerror(-r));
        }
        r = watch_inbox(l);
        if (r < 0)
                return error_set(ret_error, r, "%s: cannot watch: %s", l->inbox, strerror(-r));

        r = sd_event_add_io(cp->event, &l->inotify_source, l->inotify_fd, EPOLLIN, on_inotify, l);
        if (r < 0)
                return error_set(ret_error, r, "cannot watch the inbox: %s", strerror(-r));
        r = sd_event_add_defer(cp->event, &l->first_scan_source, on_first_scan, l);
        if (r >= 0)
                r = sd_event_source_set_enabled(l->first_scan_source, SD_EVENT_ONESHOT);
        if (r >= 0)
                r = sd_event_add_time_relative(cp->event, &l->redeliver_source, CLOCK_MONOTONIC,
                                               REDELIVER_USEC, 0, on_redeliver, l);
        if (r >= 0)
                r = sd_event_source_set_enabled(l->redeliver_source, SD_EVENT_OFF);
        if (r < 0)
                return error_set(ret_error, r, "cannot schedule the inbox scans: %s", strerror(-r));
        return 0;
}

static char *pretty(json_object *o) {
        return strf("%s\n", json_object_to_json_string_ext(
                                    o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* Writes path atomically, creating its directory again if someone removed it; durably
 * (WRITE_SYNC) unless it is a status that the next write replaces anyway. */
static int write_spool_file(const char *dir, const char *path, const char *data, size_t len,
                            mode_t mode, WriteFlags flags, char **ret_error) {
        int r;

        r = mkdir_parents(dir, SPOOL_DIR_MODE);
        if (r >= 0)
                r = write_file_atomic_full(path, data, len, mode, (uid_t)-1, (gid_t)-1, flags);
        if (r < 0)
                return error_set(ret_error, r, "%s: cannot write: %s", path, strerror(-r));
        return 0;
}

static int cp_local_prune(ControlPlane *cp, unsigned keep_count, unsigned keep_days,
                          char **ret_error) {
        CpLocal *l = cp_local(cp);
        const char *dirs[] = { l->results, l->logs, l->rejected };

        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                int r = prune_directory(dirs[i], keep_count, keep_days);

                if (r < 0)
                        return error_set(ret_error, r, "%s: cannot prune: %s", dirs[i],
                                         strerror(-r));
        }
        return 0;
}

static int cp_local_heartbeat(ControlPlane *cp, json_object *record, char **ret_error) {
        CpLocal *l = cp_local(cp);
        _cleanup_free_ char *path = strf("%s/heartbeat.json", l->spool), *text = pretty(record);

        if (!path || !text)
                return -ENOMEM;
        /* A heartbeat a second: no fsync, the next one replaces it. */
        return write_spool_file(l->spool, path, text, strlen(text), RESULT_MODE, 0, ret_error);
}

/* The file name of a delivered command with this id (borrowed), or NULL. */
static const char *find_delivered(CpLocal *l, const char *id) {
        json_object_object_foreach (l->delivered, name, value)
                if (streq(json_object_get_string(value), id))
                        return name;
        return NULL;
}

static int cp_local_ack(ControlPlane *cp, const char *id, char **ret_error) {
        CpLocal *l = cp_local(cp);
        const char *name;
        bool found = false;
        int r;

        /* Every file that carried this id: the agent drops the copies it sees again. */
        while ((name = find_delivered(l, id))) {
                _cleanup_free_ char *path = strf("%s/%s", l->inbox, name);

                if (!path)
                        return -ENOMEM;
                if (unlink(path) < 0 && errno != ENOENT) {
                        r = -errno;
                        return error_set(ret_error, r, "%s: cannot remove: %s", path, strerror(-r));
                }
                json_object_object_del(l->delivered, name); /* frees name */
                found = true;
        }

        if (!found)
                return error_set(ret_error, -ENOENT, "no command '%s' was delivered from %s", id,
                                 l->inbox);
        return 0;
}

static int cp_local_report_result(ControlPlane *cp, json_object *result, char **ret_error) {
        CpLocal *l = cp_local(cp);
        const char *id = json_get_string(result, "id");
        _cleanup_free_ char *path = NULL, *text = NULL;
        int r;

        if (!command_id_valid(id))
                return error_set(ret_error, -EINVAL, "result: field 'id': expected a command id");
        path = strf("%s/%s.json", l->results, id);
        text = pretty(result);
        if (!path || !text)
                return -ENOMEM;
        r = write_spool_file(l->results, path, text, strlen(text), RESULT_MODE, WRITE_SYNC,
                             ret_error);
        return r < 0 ? r : 1;
}

static int cp_local_upload_log(ControlPlane *cp, const char *id, const char *log, size_t len,
                               char **ret_error) {
        CpLocal *l = cp_local(cp);
        _cleanup_free_ char *path = NULL;

        if (!command_id_valid(id))
                return error_set(ret_error, -EINVAL, "log: expected a command id");
        path = strf("%s/%s.log", l->logs, id);
        if (!path)
                return -ENOMEM;
        /* The end of a log says how the command ended: keep that. */
        if (len > LOG_MAX) {
                log += len - LOG_MAX;
                len = LOG_MAX;
        }
        return write_spool_file(l->logs, path, log, len, LOG_MODE, WRITE_SYNC, ret_error);
}

/* Read at every call, so an edit of the file is seen by the next command. */
static int cp_local_stack(ControlPlane *cp, json_object **ret, char **ret_error) {
        CpLocal *l = cp_local(cp);
        _cleanup_json_ json_object *doc = NULL;
        int r;

        if (l->stack_file) {
                r = attributes_load_file(l->stack_file, &doc, ret_error);
                if (r < 0)
                        return r;
        }
        r = stack_normalize(l->stack_file ?: "stack", doc, l->instance_id, l->stack_id, ret,
                            ret_error);
        return r < 0 ? r : 1;
}

static const ControlPlaneOps cp_local_ops = {
        .name = "local",
        .start = cp_local_start,
        .heartbeat = cp_local_heartbeat,
        .ack = cp_local_ack,
        .report_result = cp_local_report_result,
        .upload_log = cp_local_upload_log,
        .prune = cp_local_prune,
        .stack = cp_local_stack,
        .free = cp_local_free,
};

int cp_local_new(sd_event *event, const char *spool, const char *stack_file,
                 const char *instance_id, const char *stack_id, const ControlPlaneSink *sink,
                 ControlPlane **ret) {
        _cleanup_(control_plane_freep) ControlPlane *cp = NULL;
        CpLocal *l;

        if (!event || !spool || !instance_id || !stack_id || !sink || !sink->command_received ||
            !sink->command_rejected)
                return -EINVAL;

        l = calloc(1, sizeof(CpLocal));
        if (!l)
                return -ENOMEM;
        *l = (CpLocal){
                .cp =
                        {
                                .ops = &cp_local_ops,
                                .event = sd_event_ref(event),
                                .sink = *sink,
                        },
                .inotify_fd = -1,
                .inbox_wd = -1,
        };
        cp = &l->cp;

        l->inbox = strf("%s/inbox", spool);
        l->rejected = strf("%s/rejected", spool);
        l->results = strf("%s/results", spool);
        l->logs = strf("%s/logs", spool);
        l->spool = strdup(spool);
        l->stack_file = stack_file ? strdup(stack_file) : NULL;
        l->instance_id = strdup(instance_id);
        l->stack_id = strdup(stack_id);
        l->ready = json_object_new_object();
        l->delivered = json_object_new_object();
        if (!l->inbox || !l->rejected || !l->results || !l->logs || !l->spool ||
            (stack_file && !l->stack_file) || !l->instance_id || !l->stack_id || !l->ready ||
            !l->delivered)
                return -ENOMEM;

        *ret = TAKE_PTR(cp);
        return 0;
}
