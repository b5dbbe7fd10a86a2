/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <sys/stat.h>

#include "command.h"
#include "fs-util.h"
#include "json-util.h"
#include "outbox.h"
#include "str-util.h"

#define RESULT_MAX (64U * 1024U * 1024U)

struct Outbox {
        char *dir;
};

int outbox_open(const char *state_dir, Outbox **ret) {
        _cleanup_(outbox_freep) Outbox *o = calloc(1, sizeof(Outbox));
        int k;

        if (!o)
                return -ENOMEM;
        o->dir = strf("%s/outbox", state_dir);
        if (!o->dir)
                return -ENOMEM;
        k = mkdir_parents(o->dir, 0700);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(o);
        return 0;
}

Outbox *outbox_free(Outbox *o) {
        if (!o)
                return NULL;
        free(o->dir);
        free(o);
        return NULL;
}

int outbox_put(Outbox *o, json_object *result) {
        const char *id = json_get_string(result, "id");
        _cleanup_free_ char *path = NULL, *text = NULL;

        if (!id || !command_id_valid(id))
                return -EINVAL;
        path = strf("%s/%s.json", o->dir, id);
        text = strf("%s\n", json_object_to_json_string_ext(result, JSON_C_TO_STRING_PRETTY |
                                                                           JSON_C_TO_STRING_NOSLASHESCAPE));
        if (!path || !text)
                return -ENOMEM;
        return write_file_atomic(path, text, strlen(text), 0600, (uid_t) -1, (gid_t) -1);
}

int outbox_remove(Outbox *o, const char *id) {
        _cleanup_free_ char *path = strf("%s/%s.json", o->dir, id);

        if (!path)
                return -ENOMEM;
        if (unlink(path) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

int outbox_get(Outbox *o, const char *id, json_object **ret) {
        _cleanup_free_ char *path = strf("%s/%s.json", o->dir, id), *text = NULL;
        size_t len;
        int k;

        if (!path)
                return -ENOMEM;
        k = read_full_file(path, RESULT_MAX, &text, &len);
        if (k < 0)
                return k;
        return json_parse_strict(path, text, len, ret, NULL);
}

typedef struct Waiting {
        char *id;
        struct timespec mtime;
} Waiting;

static int by_age(const void *a, const void *b) {
        const Waiting *x = a, *y = b;

        if (x->mtime.tv_sec != y->mtime.tv_sec)
                return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
        if (x->mtime.tv_nsec != y->mtime.tv_nsec)
                return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
        return strcmp(x->id, y->id);
}

int outbox_list(Outbox *o, char ***ret) {
        _cleanup_strv_free_ char **ids = calloc(1, sizeof(char *));
        Waiting *w = NULL;
        size_t n = 0;
        DIR *d;
        struct dirent *de;
        int k = 0;

        if (!ids)
                return -ENOMEM;
        d = opendir(o->dir);
        if (!d)
                return -errno;
        while ((de = readdir(d)) && k >= 0) {
                _cleanup_free_ char *id = NULL;
                struct stat st;
                Waiting *nw;

                if (de->d_name[0] == '.' || !endswith(de->d_name, ".json"))
                        continue;
                id = strndup(de->d_name, strlen(de->d_name) - 5);
                if (!id) {
                        k = -ENOMEM;
                        break;
                }
                if (!command_id_valid(id) || fstatat(dirfd(d), de->d_name, &st, 0) < 0)
                        continue;
                nw = reallocarray(w, n + 1, sizeof(Waiting));
                if (!nw) {
                        k = -ENOMEM;
                        break;
                }
                w = nw;
                w[n++] = (Waiting){ .id = TAKE_PTR(id), .mtime = st.st_mtim };
        }
        closedir(d);
        if (k >= 0 && n > 0)
                qsort(w, n, sizeof(Waiting), by_age);
        for (size_t i = 0; i < n; i++) {
                if (k >= 0)
                        k = strv_push(&ids, TAKE_PTR(w[i].id));
                free(w[i].id);
        }
        free(w);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(ids);
        return 0;
}
