/* SPDX-License-Identifier: MIT */
/* Releases on disk (release.c) and one app's deploy, rollback, undeploy, start, stop and restart
 * (deploy.c) with `local` sources fetched by the real fetch helper as the unprivileged user:
 * exact trees, owners, modes and messages. */
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>

#include "config.h"
#include "deploy.h"
#include "fs-util.h"
#include "json-util.h"
#include "release.h"
#include "str-util.h"
#include "test-helpers.h"
#include "time-util.h"

static char *tmp, *root, *src;
static AgentConfig *cfg;
static StrBuf logbuf;
static uid_t uid;
static gid_t gid;

static void collect(int priority, const LogContext *ctx, const char *message, void *userdata) {
        (void) priority;
        (void) userdata;
        /* Each line of an app's steps names the app (STRATA_APP in the journal). */
        if (streq_ptr(ctx->resource, "app[site]"))
                ck_assert_str_eq(strempty(ctx->app), "site");
        ck_assert_int_ge(strbuf_printf(&logbuf, "%s: %s\n", strempty(ctx->resource), message), 0);
}

static char *path_of(const char *fmt, ...) _printf_(1, 2);
static char *path_of(const char *fmt, ...) {
        va_list ap;
        char *p;

        va_start(ap, fmt);
        p = strfv(fmt, ap);
        va_end(ap);
        ck_assert_ptr_nonnull(p);
        return p;
}

static int compare_names(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static void setup(void) {
        _cleanup_free_ char *error = NULL;

        tmp = test_tmpdir();
        root = path_of("%s/www", tmp);
        src = path_of("%s/src", tmp);
        ck_assert_msg(agent_config_default(&cfg, &error) == 0, "%s", strempty(error));
        free(cfg->deploy_root);
        cfg->deploy_root = strdup(root);
        free(cfg->cache_dir);
        cfg->cache_dir = path_of("%s/cache", tmp);
        ck_assert_int_ge(resolve_user(TEST_USER, &uid, &gid), 0);
        logbuf = (StrBuf){};
}

static void teardown(void) {
        test_rmdir(tmp);
        tmp = mfree(tmp);
        root = mfree(root);
        src = mfree(src);
        cfg = agent_config_free(cfg);
        strbuf_done(&logbuf);
}

/* <src>/<version>/<file> with content. */
static void source_file(const char *version, const char *file, const char *content) {
        _cleanup_free_ char *p = path_of("%s/%s/%s", src, version, file);

        test_write(p, content);
}

/* The app "site" with its source at <src>/<version> and `extra` JSON members. */
static json_object *app_json(const char *version, const char *extra) {
        _cleanup_free_ char *text = path_of(
                "{\"shortname\": \"site\", \"source\": {\"type\": \"local\", \"url\": \"%s/%s\"}, "
                "\"environment\": {}, \"data_sources\": [], \"symlinks\": {}%s%s}",
                src, version, extra ? ", " : "", strempty(extra));
        json_object *o = json_tokener_parse(text);

        ck_assert_msg(o, "%s", text);
        return o;
}

/* Runs one action for the app; returns deploy_apps()'s value, the message or error in *ret. */
static int act(CommandType type, json_object *app, char **ret) {
        _cleanup_json_ json_object *apps = json_object_new_array();
        _cleanup_json_ json_object *attrs = json_object_new_object();
        _cleanup_free_ char *message = NULL, *error = NULL;
        DeployRun run = {
                .config = cfg,
                .log = collect,
                .agent_binary = getenv("STRATA_AGENT"),
        };
        int r;

        ck_assert_msg(run.agent_binary, "STRATA_AGENT is not set (run through meson test)");
        json_object_array_add(apps, json_object_get(app));
        r = deploy_apps(&run, type, apps, attrs, &message, &error);
        ck_assert_int_ge(r, 0);
        /* deploy.<app> is filled whatever happened. */
        ck_assert_ptr_nonnull(json_get_path(attrs, "site.deploy_to"));
        *ret = r == 0 ? TAKE_PTR(message) : TAKE_PTR(error);
        ck_assert_ptr_nonnull(*ret);
        return r;
}

static void expect_ok(CommandType type, json_object *app, const char *message) {
        _cleanup_free_ char *m = NULL;

        ck_assert_msg(act(type, app, &m) == 0, "%s\nlog:\n%s", m, strempty(logbuf.data));
        if (message)
                ck_assert_str_eq(m, message);
}

static void expect_fail(CommandType type, json_object *app, const char *error) {
        _cleanup_free_ char *m = NULL;

        ck_assert_msg(act(type, app, &m) == 1, "succeeded: %s", m);
        ck_assert_str_eq(m, error);
}

/* The release names under releases/, sorted. */
static char *release_list(void) {
        _cleanup_free_ char *dir = path_of("%s/site/releases", root);
        _cleanup_strv_free_ char **names = NULL;
        DIR *d = opendir(dir);
        struct dirent *de;

        if (!d)
                return strdup("");
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        ck_assert_int_ge(strv_extend(&names, de->d_name), 0);
        closedir(d);
        if (!names)
                return strdup("");
        qsort(names, strv_length(names), sizeof(char *),
              compare_names);
        return strv_join(names, " ");
}

static char *current_target(void) {
        _cleanup_free_ char *link = path_of("%s/site/current", root);
        char buf[PATH_MAX];
        ssize_t n = readlink(link, buf, sizeof(buf) - 1);

        if (n < 0)
                return NULL;
        buf[n] = 0;
        return strdup(buf);
}

static char *current_file(const char *file) {
        _cleanup_free_ char *p = path_of("%s/site/current/%s", root, file);

        return test_read(p);
}

static json_object *ledger(void) {
        _cleanup_free_ char *p = path_of("%s/site/.strata/releases.json", root);
        _cleanup_free_ char *text = test_read(p);
        json_object *o;

        ck_assert_msg(text, "no ledger");
        o = json_tokener_parse(text);
        ck_assert_ptr_nonnull(o);
        return o;
}

/* The ledger's release names, oldest first, with the current one marked by '*'. */
static char *ledger_names(void) {
        _cleanup_json_ json_object *l = ledger();
        json_object *list = json_object_object_get(l, "releases");
        _cleanup_(strbuf_done) StrBuf b = {};

        for (size_t i = 0; i < json_object_array_length(list); i++) {
                json_object *e = json_object_array_get_idx(list, i);

                ck_assert_int_ge(strbuf_printf(&b, "%s%s%s", i ? " " : "", json_get_string(e, "name"),
                                               streq_ptr(json_get_string(e, "state"), "current")
                                                       ? "*"
                                                       : ""),
                                 0);
        }
        return strbuf_steal(&b);
}

static void versions(unsigned n) {
        for (unsigned i = 1; i <= n; i++) {
                _cleanup_free_ char *v = path_of("v%u", i), *content = path_of("version %u\n", i);

                source_file(v, "index.html", content);
                source_file(v, "lib/app.txt", v);
        }
}

/* 1. Seven deploys keep five releases; rollbacks walk back to the oldest and stop there;
 * undeploy leaves nothing. */
START_TEST(seven_deploys_rollbacks_undeploy) {
        _cleanup_free_ char *names = NULL, *listed = NULL;
        char *released[8] = {};

        versions(7);
        for (unsigned i = 1; i <= 7; i++) {
                _cleanup_free_ char *v = path_of("v%u", i), *expected = path_of("version %u\n", i);
                _cleanup_free_ char *got = NULL, *target = NULL;
                _cleanup_json_ json_object *app = app_json(v, NULL);

                expect_ok(COMMAND_DEPLOY, app, NULL);
                got = current_file("index.html");
                ck_assert_str_eq(strempty(got), expected);
                target = current_target();
                ck_assert_ptr_nonnull(target);
                ck_assert(startswith(target, "releases/"));
                released[i] = strdup(target + strlen("releases/"));
        }
        /* Seven deploys within a few seconds: every name is unique. */
        for (unsigned i = 1; i <= 7; i++)
                for (unsigned j = 1; j < i; j++)
                        ck_assert_str_ne(released[i], released[j]);

        names = release_list();
        listed = path_of("%s %s %s %s %s", released[3], released[4], released[5], released[6],
                         released[7]);
        ck_assert_str_eq(names, listed);
        free(listed);
        listed = path_of("%s %s %s %s %s*", released[3], released[4], released[5], released[6],
                         released[7]);
        free(names);
        names = ledger_names();
        ck_assert_str_eq(names, listed);
        {
                _cleanup_free_ char *p = path_of("%s/site/releases/%s/lib/app.txt", root,
                                                 released[7]);
                test_assert_file(p, "v7", 0644, uid, gid);
        }

        for (unsigned i = 7; i > 3; i--) {
                _cleanup_json_ json_object *app = app_json("v1", NULL);
                _cleanup_free_ char *expected = path_of("site: rolled back from release %s to %s",
                                                        released[i], released[i - 1]);
                _cleanup_free_ char *content = path_of("version %u\n", i - 1), *got = NULL;
                _cleanup_free_ char *gone = path_of("%s/site/releases/%s", root, released[i]);

                expect_ok(COMMAND_ROLLBACK, app, expected);
                got = current_file("index.html");
                ck_assert_str_eq(strempty(got), content);
                ck_assert_int_ne(access(gone, F_OK), 0);
        }
        {
                _cleanup_json_ json_object *app = app_json("v1", NULL);
                _cleanup_free_ char *expected = path_of(
                        "site: no release older than %s: nothing rolled back, current unchanged",
                        released[3]);
                _cleanup_free_ char *got = NULL, *before = NULL, *after = NULL;

                before = ledger_names();
                expect_ok(COMMAND_ROLLBACK, app, expected);
                got = current_file("index.html");
                ck_assert_str_eq(strempty(got), "version 3\n");
                after = ledger_names();
                ck_assert_str_eq(after, before);
                free(names);
                names = release_list();
                ck_assert_str_eq(names, released[3]);

                free(names);
                names = path_of("site: undeployed: 1 release(s) and %s/site removed", root);
                expect_ok(COMMAND_UNDEPLOY, app, names);
                free(names);
                names = path_of("%s/site", root);
                ck_assert_int_ne(access(names, F_OK), 0);
        }
        for (unsigned i = 1; i <= 7; i++)
                free(released[i]);
}
END_TEST

START_TEST(undeploy_leaves_nothing) {
        _cleanup_json_ json_object *app = app_json("v1", NULL);
        _cleanup_free_ char *deploy_to = path_of("%s/site", root);
        _cleanup_free_ char *expected = path_of("site: undeployed: 2 release(s) and %s removed",
                                                deploy_to);

        versions(1);
        expect_ok(COMMAND_DEPLOY, app, NULL);
        expect_ok(COMMAND_DEPLOY, app, NULL);
        expect_ok(COMMAND_UNDEPLOY, app, expected);
        ck_assert_int_ne(access(deploy_to, F_OK), 0);
        /* Again: nothing there, nothing to do, and rollback says so too. */
        expect_ok(COMMAND_UNDEPLOY, app, "site: nothing deployed");
        expect_ok(COMMAND_ROLLBACK, app, "site: nothing deployed, nothing to roll back");
        ck_assert_int_ne(access(deploy_to, F_OK), 0);
}
END_TEST

/* 2. Hooks run as the deploy user with the release's paths; a failing before_symlink leaves
 * `current` and the releases as they were; a hanging hook is killed at its timeout. */
START_TEST(hooks) {
        _cleanup_json_ json_object *app = app_json("v1", "\"environment\": {\"GREETING\": \"hi\"}");
        _cleanup_json_ json_object *bad = app_json("v2", NULL);
        _cleanup_json_ json_object *hang = app_json("v3", "\"hook_timeout\": 1");
        _cleanup_free_ char *uidfile = path_of("%s/site/shared/log/hook-id", root);
        _cleanup_free_ char *envfile = path_of("%s/site/shared/log/hook-env", root);
        _cleanup_free_ char *target = NULL, *expected = NULL, *names = NULL, *before = NULL;
        _cleanup_free_ char *ledger_before = NULL, *ledger_after = NULL, *ledger_path = NULL;
        _cleanup_free_ char *hook = NULL, *id = path_of("%u:%u\n", (unsigned) uid, (unsigned) gid);
        usec_t t;

        source_file("v1", "index.html", "one\n");
        source_file("v1", "deploy/before_migrate", "id -u > \"$SHARED_PATH/log/hook-id.tmp\"\n"
                                                   "id -g >> \"$SHARED_PATH/log/hook-id.tmp\"\n"
                                                   "tr '\\n' ':' < \"$SHARED_PATH/log/hook-id.tmp\" "
                                                   "| sed 's/:$/\\n/' > \"$SHARED_PATH/log/hook-id\"\n");
        source_file("v1", "deploy/after_restart",
                    "#!/bin/sh\necho \"$GREETING $STRATA_APP $RELEASE_PATH $PWD\" > "
                    "\"$SHARED_PATH/log/hook-env\"\necho after restart done\n");
        hook = path_of("%s/v1/deploy/after_restart", src);
        ck_assert_int_eq(chmod(hook, 0755), 0);
        source_file("v2", "index.html", "two\n");
        source_file("v2", "deploy/before_symlink", "echo starting\necho boom\nexit 3\n");
        source_file("v3", "index.html", "three\n");
        source_file("v3", "deploy/before_migrate", "exec sleep 30\n");

        expect_ok(COMMAND_DEPLOY, app, NULL);
        target = current_target();
        ck_assert_ptr_nonnull(target);
        test_assert_file(uidfile, id, 0644, uid, gid);
        expected = path_of("hi site %s/site/%s %s/site/%s\n", root, target, root, target);
        test_assert_file(envfile, expected, 0644, uid, gid);
        ck_assert_msg(strstr(logbuf.data, "app[site]: hook deploy/after_restart: after restart done\n"),
                      "%s", logbuf.data);

        names = release_list();
        ledger_path = path_of("%s/site/.strata/releases.json", root);
        ledger_before = test_read(ledger_path);
        expect_fail(COMMAND_DEPLOY, bad,
                    "app site: hook deploy/before_symlink: exited with status 3: boom");
        before = current_target();
        ck_assert_str_eq(before, target);
        free(before);
        before = release_list();
        ck_assert_str_eq(before, names);
        ledger_after = test_read(ledger_path);
        ck_assert_str_eq(ledger_after, ledger_before);
        free(expected);
        expected = current_file("index.html");
        ck_assert_str_eq(expected, "one\n");

        t = now_usec(CLOCK_MONOTONIC);
        expect_fail(COMMAND_DEPLOY, hang,
                    "app site: hook deploy/before_migrate: killed after its timeout of 1 s");
        t = now_usec(CLOCK_MONOTONIC) - t;
        ck_assert_uint_lt(t, 5 * USEC_PER_SEC);
        free(before);
        before = release_list();
        ck_assert_str_eq(before, names);
        free(before);
        before = current_target();
        ck_assert_str_eq(before, target);
}
END_TEST

/* 3. shared/config: exact bytes, modes and owners; secrets 0600. */
START_TEST(shared_config) {
        _cleanup_json_ json_object *app = app_json(
                "v1", "\"environment\": {\"A\": \"x y\", \"B\": \"q\\\"$`\\\\\"}, "
                      "\"data_sources\": [{\"type\": \"postgres\", \"password\": \"pw\"}], "
                      "\"ssl\": {\"certificate\": \"CERT\\n\", \"key\": \"KEY\\n\", "
                      "\"chain\": \"CHAIN\\n\"}");
        _cleanup_json_ json_object *plain = app_json("v1", NULL);
        _cleanup_free_ char *config = path_of("%s/site/shared/config", root);
        _cleanup_free_ char *env = path_of("%s/environment", config);
        _cleanup_free_ char *ds = path_of("%s/data_sources.json", config);
        _cleanup_free_ char *crt = path_of("%s/ssl.crt", config);
        _cleanup_free_ char *key = path_of("%s/ssl.key", config);
        _cleanup_free_ char *chain = path_of("%s/ssl.chain.crt", config);
        struct stat st;

        source_file("v1", "index.html", "one\n");
        expect_ok(COMMAND_DEPLOY, app, NULL);
        test_assert_file(env, "A=\"x y\"\nB=\"q\\\"\\$\\`\\\\\"\n", 0600, uid, gid);
        test_assert_file(ds, "[\n  {\n    \"type\":\"postgres\",\n    \"password\":\"pw\"\n  }\n]\n",
                         0600, uid, gid);
        test_assert_file(crt, "CERT\n", 0644, uid, gid);
        test_assert_file(key, "KEY\n", 0600, uid, gid);
        test_assert_file(chain, "CHAIN\n", 0644, uid, gid);
        ck_assert_int_eq(stat(config, &st), 0);
        ck_assert_uint_eq(st.st_uid, 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0755);

        /* The app without SSL and environment: the old material goes. */
        expect_ok(COMMAND_DEPLOY, plain, NULL);
        test_assert_file(env, "", 0600, uid, gid);
        test_assert_file(ds, "[]\n", 0600, uid, gid);
        ck_assert_int_ne(access(crt, F_OK), 0);
        ck_assert_int_ne(access(key, F_OK), 0);
        ck_assert_int_ne(access(chain, F_OK), 0);
}
END_TEST

/* Shared directories are linked into each release, replacing what the release had. */
START_TEST(shared_links) {
        _cleanup_json_ json_object *app = app_json("v1", "\"symlinks\": {\"uploads\": "
                                                         "\"public/uploads\"}");
        const char *links[][2] = {
                { "log", "log" },
                { "tmp/pids", "pids" },
                { "public/system", "system" },
                { "public/uploads", "uploads" },
        };
        struct stat st;

        source_file("v1", "log/old.log", "old\n");
        source_file("v1", "public/index.html", "one\n");
        expect_ok(COMMAND_DEPLOY, app, NULL);
        for (size_t i = 0; i < ELEMENTSOF(links); i++) {
                _cleanup_free_ char *p = path_of("%s/site/current/%s", root, links[i][0]);
                _cleanup_free_ char *want = path_of("%s/site/shared/%s", root, links[i][1]);
                char buf[PATH_MAX];
                ssize_t n = readlink(p, buf, sizeof(buf) - 1);

                ck_assert_msg(n > 0, "%s is not a link", p);
                buf[n] = 0;
                ck_assert_str_eq(buf, want);
                ck_assert_int_eq(lstat(p, &st), 0);
                ck_assert_uint_eq(st.st_uid, uid);
                ck_assert_int_eq(stat(want, &st), 0);
                ck_assert(S_ISDIR(st.st_mode));
                ck_assert_uint_eq(st.st_uid, uid);
        }
        {
                _cleanup_free_ char *p = path_of("%s/site/current/tmp", root);

                ck_assert_int_eq(lstat(p, &st), 0);
                ck_assert(S_ISDIR(st.st_mode));
                ck_assert_uint_eq(st.st_uid, uid);
        }
}
END_TEST

/* A release whose tree holds a symlink where a shared link goes: never followed. */
START_TEST(shared_link_not_followed) {
        _cleanup_(release_closep) AppReleases *a = NULL;
        _cleanup_free_ char *name = NULL, *error = NULL, *outside = path_of("%s/outside", tmp);
        _cleanup_free_ char *link = NULL, *expected = NULL;
        DIR *d;
        size_t n = 0;

        ck_assert_int_ge(mkdir_parents(outside, 0755), 0);
        ck_assert_int_eq(release_open(root, "site", uid, gid, true, &a, &error), 0);
        ck_assert_int_eq(release_create(a, &name, &error), 0);
        link = path_of("%s/site/releases/%s/tmp", root, name);
        ck_assert_int_eq(symlink(outside, link), 0);
        ck_assert_int_lt(release_link_shared(a, name, NULL, &error), 0);
        expected = path_of("%s/site/releases/%s/tmp: not a directory (or a symlink) in the release",
                           root, name);
        ck_assert_str_eq(error, expected);
        d = opendir(outside);
        ck_assert_ptr_nonnull(d);
        while (readdir(d))
                n++;
        closedir(d);
        ck_assert_uint_eq(n, 2);
}
END_TEST

/* 4. What an interrupted command leaves is removed by the next one; `current` never moves to an
 * incomplete release. */
START_TEST(cleanup_after_crash) {
        _cleanup_(release_closep) AppReleases *a = NULL;
        _cleanup_strv_free_ char **removed = NULL;
        _cleanup_free_ char *error = NULL, *r1 = NULL, *r2 = NULL, *r3 = NULL, *r4 = NULL;
        _cleanup_free_ char *temp = NULL, *current = NULL, *names = NULL, *expected = NULL;
        _cleanup_free_ char *joined = NULL;

        ck_assert_int_eq(release_open(root, "site", uid, gid, true, &a, &error), 0);
        ck_assert_int_eq(release_create(a, &r1, &error), 0);
        ck_assert_int_eq(release_activate(a, r1, NULL, &error), 0);
        ck_assert_int_eq(release_create(a, &r2, &error), 0);
        ck_assert_int_eq(release_activate(a, r2, NULL, &error), 0);
        /* A deploy killed after the ledger write, before the switch: r3 listed, not current. */
        ck_assert_int_eq(release_create(a, &r3, &error), 0);
        ck_assert_int_eq(release_activate(a, r3, NULL, &error), 0);
        temp = path_of("%s/site/.current.1", root);
        ck_assert_int_eq(symlink("releases/x", temp), 0);
        current = path_of("%s/site/current", root);
        free(temp);
        temp = path_of("releases/%s", r2);
        {
                _cleanup_free_ char *t = path_of("%s/site/.current.2", root);

                ck_assert_int_eq(symlink(temp, t), 0);
                ck_assert_int_eq(rename(t, current), 0);
        }
        /* A deploy killed while fetching: r4 not listed at all. */
        ck_assert_int_eq(release_create(a, &r4, &error), 0);
        a = release_close(a);

        ck_assert_int_eq(release_open(root, "site", uid, gid, true, &a, &error), 0);
        ck_assert_str_eq(a->current, r2);
        ck_assert_int_eq(release_cleanup(a, &removed, &error), 0);
        qsort(removed, strv_length(removed), sizeof(char *),
              compare_names);
        joined = strv_join(removed, " ");
        expected = path_of("%s %s", r3, r4);
        ck_assert_str_eq(joined, expected);
        names = ledger_names();
        free(expected);
        expected = path_of("%s %s*", r1, r2);
        ck_assert_str_eq(names, expected);
        free(names);
        names = release_list();
        free(expected);
        expected = path_of("%s %s", r1, r2);
        ck_assert_str_eq(names, expected);
        free(temp);
        temp = path_of("%s/site/.current.1", root);
        ck_assert_int_ne(access(temp, F_OK), 0);
}
END_TEST

/* Rollback is a rename, an fsync and a ledger write: fast. Best of 20, as an fsync waits for
 * whatever else the disk is doing. */
START_TEST(rollback_latency) {
        _cleanup_(release_closep) AppReleases *a = NULL;
        _cleanup_free_ char *error = NULL, *from = NULL, *to = NULL;
        usec_t best = UINT64_MAX;

        ck_assert_int_eq(release_open(root, "site", uid, gid, true, &a, &error), 0);
        for (unsigned round = 0; round < 20; round++) {
                usec_t t;

                for (unsigned i = 0; i < 2; i++) {
                        _cleanup_free_ char *name = NULL;

                        ck_assert_int_eq(release_create(a, &name, &error), 0);
                        ck_assert_int_eq(release_activate(a, name, NULL, &error), 0);
                }
                t = now_usec(CLOCK_MONOTONIC);
                ck_assert_int_eq(release_rollback(a, &from, &to, &error), 0);
                t = now_usec(CLOCK_MONOTONIC) - t;
                best = MIN(best, t);
                from = mfree(from);
                to = mfree(to);
        }
        printf("rollback (switch, ledger, removal of an empty release): best of 20 %.2f ms\n",
               (double) best / 1000.0);
        if (!getenv("STRATA_UNDER_VALGRIND"))
                ck_assert_uint_le(best, 5 * USEC_PER_MSEC);
}
END_TEST

/* start, stop, restart: the app's commands in the current release, as the deploy user. */
START_TEST(service_commands) {
        _cleanup_json_ json_object *app = app_json(
                "v1", "\"start_command\": \"id -u > $SHARED_PATH/pids/started\", "
                      "\"restart_command\": [\"/bin/sh\", \"-c\", \"echo $PWD > $SHARED_PATH/pids/restarted\"]");
        _cleanup_free_ char *started = path_of("%s/site/shared/pids/started", root);
        _cleanup_free_ char *restarted = path_of("%s/site/shared/pids/restarted", root);
        _cleanup_free_ char *target = NULL, *expected = NULL, *id = NULL;

        source_file("v1", "index.html", "one\n");
        expect_fail(COMMAND_START, app, "app site: not deployed: nothing to start");
        expect_ok(COMMAND_DEPLOY, app, NULL);
        target = current_target();
        expected = path_of("%s/site/%s\n", root, target);
        /* The deploy restarted it. */
        test_assert_file(restarted, expected, 0644, uid, gid);
        ck_assert_int_eq(unlink(restarted), 0);
        expect_ok(COMMAND_START, app, "site: start_command done");
        id = path_of("%u\n", (unsigned) uid);
        test_assert_file(started, id, 0644, uid, gid);
        expect_ok(COMMAND_RESTART, app, "site: restart_command done");
        test_assert_file(restarted, expected, 0644, uid, gid);
        expect_fail(COMMAND_STOP, app, "app site: stop_command: not set, nothing to stop");
}
END_TEST

/* Bad input is named. */
START_TEST(bad_input) {
        _cleanup_json_ json_object *nouser = app_json("v1", "\"user\": \"no-such-user-x\"");
        _cleanup_json_ json_object *root_user = app_json("v1", "\"user\": \"root\"");
        _cleanup_json_ json_object *missing = app_json("missing", NULL);
        _cleanup_json_ json_object *badlink = app_json("v1", "\"symlinks\": {\"x\": \"../up\"}");
        _cleanup_free_ char *fetch_error = NULL, *m = NULL;
        _cleanup_free_ char *deploy_to = path_of("%s/site", root);

        source_file("v1", "index.html", "one\n");
        expect_fail(COMMAND_DEPLOY, nouser,
                    "app site: user: the deploy user 'no-such-user-x' does not exist");
        expect_fail(COMMAND_DEPLOY, root_user,
                    "app site: user: deploying as root is refused unless the agent config says "
                    "privileged_steps: allow");
        expect_fail(COMMAND_DEPLOY, badlink,
                    "app site: symlinks: 'x': expected a relative path under shared/ mapped to a "
                    "relative path in the release (no '..')");
        ck_assert_int_eq(act(COMMAND_DEPLOY, missing, &m), 1);
        ck_assert_msg(startswith(m, "app site: source: "), "%s", m);
        fetch_error = release_list();
        ck_assert_str_eq(fetch_error, "");
        ck_assert_int_ne(access(deploy_to, F_OK) == 0 && current_target() != NULL, 1);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("release");
        TCase *tc = tcase_create("release");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, seven_deploys_rollbacks_undeploy);
        tcase_add_test(tc, undeploy_leaves_nothing);
        tcase_add_test(tc, hooks);
        tcase_add_test(tc, shared_config);
        tcase_add_test(tc, shared_links);
        tcase_add_test(tc, shared_link_not_followed);
        tcase_add_test(tc, cleanup_after_crash);
        tcase_add_test(tc, rollback_latency);
        tcase_add_test(tc, service_commands);
        tcase_add_test(tc, bad_input);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        setvbuf(stdout, NULL, _IOLBF, 0);
        return test_run_suite(suite());
}
