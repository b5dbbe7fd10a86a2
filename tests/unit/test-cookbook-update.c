/* SPDX-License-Identifier: MIT */
/* cookbook_update(): sources fetched by the real fetch helper as the test user, cookbooks.yaml,
 * version and dependency checks, the atomic switch of `current`, and the old tree kept on
 * failure. */
#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>

#include "config.h"
#include "cookbook-update.h"
#include "fs-util.h"
#include "json-util.h"
#include "lifecycle.h"
#include "server-git.h"
#include "server-nginx.h"
#include "stack.h"
#include "str-util.h"
#include "test-helpers.h"
#include "yaml-load.h"

static char *dir;   /* sources live here */
static char *cache; /* the agent's cache_dir */

static void setup(void) {
        dir = test_tmpdir();
        cache = test_tmpdir();
}

static void teardown(void) {
        test_rmdir(dir);
        test_rmdir(cache);
        dir = mfree(dir);
        cache = mfree(cache);
}

static char *at(const char *base, const char *name) {
        char *p = strf("%s/%s", base, name);

        ck_assert_ptr_nonnull(p);
        return p;
}

static void put(const char *name, const char *content) {
        _cleanup_free_ char *p = at(dir, name);

        test_write(p, content);
}

/* A cookbook <root>/<name> (root relative to dir; "" for the source root itself). */
static void cookbook(const char *root, const char *name, const char *version,
                     const char *depends) {
        _cleanup_free_ char *meta = NULL, *recipe = NULL, *text = NULL, *msg = NULL;
        const char *sep = *root ? "/" : "";
        bool own_dir = !endswith(root, name);

        meta = own_dir ? strf("%s%s%s/metadata.yaml", root, sep, name)
                       : strf("%s/metadata.yaml", root);
        recipe = own_dir ? strf("%s%s%s/recipes/default.yaml", root, sep, name)
                         : strf("%s/recipes/default.yaml", root);
        text = strf("name: %s\nversion: %s\n%s%s", name, version, depends ? "depends: " : "",
                    depends ? depends : "");
        msg = strf("- file: {path: \"{{out}}/%s\", content: \"%s %s\"}\n", name, name, version);
        put(meta, text);
        put(recipe, msg);
}

static json_object *sources(const char *json_text) {
        _cleanup_free_ char *error = NULL;
        json_object *o = NULL;

        ck_assert_msg(json_parse_strict("sources", json_text, strlen(json_text), &o, &error) == 0,
                      "%s", strempty(error));
        return o;
}

/* [{"type":"local","url":"<dir>/<a>"}, ...] for the NULL-terminated names. */
static json_object *local_sources(const char *first, ...) {
        _cleanup_(strbuf_done) StrBuf b = {};
        va_list ap;

        ck_assert_int_ge(strbuf_appends(&b, "["), 0);
        va_start(ap, first);
        for (const char *n = first; n; n = va_arg(ap, const char *))
                ck_assert_int_ge(strbuf_printf(&b, "%s{\"type\": \"local\", \"url\": \"%s/%s\"}",
                                               n == first ? "" : ", ", dir, n),
                                 0);
        va_end(ap);
        ck_assert_int_ge(strbuf_appends(&b, "]"), 0);
        return sources(b.data);
}

static int update(json_object *s, json_object **ret_info, char **ret_error) {
        char *builtin[] = { (char *) getenv("STRATA_BUILTIN_COOKBOOKS"), NULL };
        CookbookUpdate u = {
                .cache_dir = cache,
                .user = TEST_USER,
                .builtin_cookbooks = builtin,
                .fetch = { .agent_binary = getenv("STRATA_AGENT") },
        };

        ck_assert_ptr_nonnull(builtin[0]);
        ck_assert_ptr_nonnull(u.fetch.agent_binary);
        return cookbook_update(&u, s, ret_info, ret_error);
}

static void update_ok(json_object *s) {
        _cleanup_free_ char *error = NULL;
        _cleanup_json_ json_object *info = NULL;

        ck_assert_msg(update(s, &info, &error) == 0, "%s", strempty(error));
}

static char *current(void) {
        char *tree = NULL;

        ck_assert_int_eq(cookbook_current_tree(cache, &tree), 0);
        ck_assert_ptr_nonnull(tree);
        return tree;
}

static char *current_link(void) {
        _cleanup_free_ char *link = at(cache, "cookbooks/current");
        char buf[PATH_MAX];
        ssize_t n = readlink(link, buf, sizeof(buf) - 1);

        ck_assert_int_gt(n, 0);
        buf[n] = 0;
        return strdup(buf);
}

/* The names in a directory, sorted, joined with " ". */
static char *listing(const char *path) {
        struct dirent **list = NULL;
        _cleanup_strv_free_ char **names = NULL;
        int n = scandir(path, &list, NULL, alphasort);
        char *joined;

        ck_assert_int_ge(n, 0);
        for (int i = 0; i < n; i++) {
                if (!streq(list[i]->d_name, ".") && !streq(list[i]->d_name, ".."))
                        ck_assert_int_ge(strv_extend(&names, list[i]->d_name), 0);
                free(list[i]);
        }
        free(list);
        joined = strv_join(names, " ");
        ck_assert_ptr_nonnull(joined);
        return joined;
}

static void assert_listing(const char *path, const char *expected) {
        _cleanup_free_ char *got = listing(path);

        ck_assert_str_eq(got, expected);
}

static void assert_tree_file(const char *tree, const char *name, const char *content) {
        _cleanup_free_ char *p = at(tree, name);

        test_assert_file(p, content, 0644, 0, 0);
}

static const char *plain(json_object *o) {
        return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* repo: a directory of cookbooks (web, base) plus things that are not cookbooks;
 * single: one cookbook at its root (tools) whose cookbooks.yaml pulls extra from third. */
static void three_sources(const char *extra_wanted) {
        _cleanup_free_ char *list = NULL;

        cookbook("repo", "web", "1.0.0", "{base: \">= 1.0\"}");
        cookbook("repo", "base", "1.2.0", NULL);
        put("repo/README.md", "cookbooks\n");
        put("repo/docs/index.md", "docs\n");
        cookbook("single", "single", "0.3.0", "{extra: \"~> 2.0\"}");
        list = strf("cookbooks:\n  extra:\n    source: {type: local, url: \"%s/third\"}\n"
                    "    version: \"%s\"\n",
                    dir, extra_wanted);
        put("single/cookbooks.yaml", list);
        cookbook("third", "extra", "2.1.0", NULL);
        cookbook("third", "unrelated", "1.0.0", NULL);
}

START_TEST(test_update) {
        _cleanup_json_ json_object *s = NULL, *info = NULL;
        _cleanup_free_ char *error = NULL, *tree = NULL, *link = NULL, *expected = NULL,
                            *trees = at(cache, "cookbooks/trees");
        struct stat st;

        three_sources(">= 2.1");
        s = local_sources("repo", "single", NULL);
        ck_assert_msg(update(s, &info, &error) == 0, "%s", strempty(error));

        tree = current();
        link = current_link();
        ck_assert(startswith(link, "trees/"));
        ck_assert_str_eq(json_get_string(info, "tree"), tree);
        assert_listing(tree, "base extra single web");
        assert_tree_file(tree, "web/metadata.yaml",
                         "name: web\nversion: 1.0.0\ndepends: {base: \">= 1.0\"}");
        assert_tree_file(tree, "extra/recipes/default.yaml",
                         "- file: {path: \"{{out}}/extra\", content: \"extra 2.1.0\"}\n");
        /* A one-cookbook source keeps its cookbooks.yaml; nothing else of the sources. */
        {
                _cleanup_free_ char *single = at(tree, "single");
                assert_listing(single, "cookbooks.yaml metadata.yaml recipes");
        }
        /* root's tree, not the fetch user's. */
        ck_assert_int_eq(stat(tree, &st), 0);
        ck_assert_uint_eq(st.st_uid, 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0755);
        /* Only the tree: staging and copies are gone. */
        assert_listing(trees, link + strlen("trees/"));

        expected = strf("{\"cookbooks\":["
                        "{\"name\":\"base\",\"version\":\"1.2.0\",\"from\":\"cookbook_sources[0]\"},"
                        "{\"name\":\"web\",\"version\":\"1.0.0\",\"from\":\"cookbook_sources[0]\"},"
                        "{\"name\":\"single\",\"version\":\"0.3.0\",\"from\":\"cookbook_sources[1]\"},"
                        "{\"name\":\"extra\",\"version\":\"2.1.0\",\"from\":\"cookbook_sources[1]: "
                        "cookbooks.yaml: cookbooks.extra\"}],"
                        "\"tree\":\"%s\",\"sources\":["
                        "{\"type\":\"local\",\"url\":\"%s/repo\",\"from\":\"cookbook_sources[0]\"},"
                        "{\"type\":\"local\",\"url\":\"%s/single\",\"from\":\"cookbook_sources[1]\"},"
                        "{\"type\":\"local\",\"url\":\"%s/third\",\"from\":\"cookbook_sources[1]: "
                        "cookbooks.yaml: cookbooks.extra\"}]}",
                        tree, dir, dir, dir);
        ck_assert_str_eq(plain(info), expected);
}
END_TEST

/* A failed update: the exact error, `current` and its tree untouched, nothing left behind. */
static void assert_refused(json_object *s, int expected_errno, const char *expected_error) {
        _cleanup_free_ char *error = NULL, *before = current_link(), *tree = current(),
                            *trees = at(cache, "cookbooks/trees"), *before_list = listing(tree),
                            *after = NULL;
        json_object *info = NULL;

        ck_assert_int_eq(update(s, &info, &error), -expected_errno);
        ck_assert_ptr_null(info);
        ck_assert_ptr_nonnull(error);
        ck_assert_str_eq(error, expected_error);
        after = current_link();
        ck_assert_str_eq(after, before);
        assert_listing(tree, before_list);
        assert_listing(trees, before + strlen("trees/"));
}

START_TEST(test_version_conflict_keeps_old_tree) {
        _cleanup_json_ json_object *s = NULL;
        _cleanup_free_ char *expected = NULL, *tree = NULL;

        three_sources(">= 2.1");
        s = local_sources("repo", "single", NULL);
        update_ok(s);
        tree = current();

        /* The same sources, now wanting a version third does not have. */
        three_sources(">= 3.0");
        assert_refused(s, ERANGE,
                       "cookbook_sources[1]: cookbooks.yaml: wants cookbook extra >= 3.0, but "
                       "cookbook_sources[1]: cookbooks.yaml: cookbooks.extra has extra 2.1.0");
        assert_tree_file(tree, "extra/metadata.yaml", "name: extra\nversion: 2.1.0\n");

        /* A depends that is not met. */
        three_sources(">= 2.1");
        cookbook("repo", "web", "1.0.0", "{base: \">= 2.0\"}");
        expected = strf("cookbook web depends on base >= 2.0, but base is version 1.2.0 "
                        "(%s/cookbooks/trees/",
                        cache);
        {
                _cleanup_free_ char *error = NULL;
                json_object *info = NULL;

                ck_assert_int_eq(update(s, &info, &error), -ERANGE);
                ck_assert_msg(startswith(error, expected), "%s", error);
                ck_assert(endswith(error, "/base)"));
        }
        {
                _cleanup_free_ char *now = current();
                ck_assert_str_eq(now, tree);
        }
}
END_TEST

START_TEST(test_source_errors) {
        _cleanup_json_ json_object *first = NULL, *missing = NULL, *twice = NULL, *builtin = NULL,
                                   *bad_list = NULL, *none = NULL, *bad_type = NULL;
        _cleanup_free_ char *expected = NULL;

        cookbook("repo", "web", "1.0.0", NULL);
        first = local_sources("repo", NULL);
        update_ok(first);

        missing = local_sources("repo", "nowhere", NULL);
        expected = strf("cookbook_sources[1]: local source %s/nowhere: No such file or directory",
                        dir);
        assert_refused(missing, ENOENT, expected);

        cookbook("other", "web", "2.0.0", NULL);
        twice = local_sources("repo", "other", NULL);
        assert_refused(twice, EEXIST,
                       "cookbook_sources[1]: cookbook 'web' also comes from cookbook_sources[0]");

        cookbook("mine", "strata", "9.0.0", NULL);
        builtin = local_sources("mine", NULL);
        assert_refused(builtin, EINVAL,
                       "cookbook_sources[0]: cookbook 'strata' has the name of the built-in "
                       "cookbook");

        put("listed/cookbooks.yaml", "cookbooks:\n  x: {source: {type: local, url: /x}, "
                                     "version: \"about 2\"}\n");
        bad_list = local_sources("listed", NULL);
        assert_refused(bad_list, EINVAL,
                       "cookbook_sources[0]: cookbooks.yaml: cookbooks.x.version: expected a "
                       "version constraint (=, >=, <=, >, < or ~> and a version)");
        put("listed/cookbooks.yaml", "cookbook:\n  x: {}\n");
        assert_refused(bad_list, EINVAL,
                       "cookbook_sources[0]: cookbooks.yaml: unknown key 'cookbook' (expected "
                       "cookbooks)");
        put("listed/cookbooks.yaml", "cookbooks:\n  x: {source: {type: svn, url: /x}}\n");
        assert_refused(bad_list, EINVAL,
                       "cookbook_sources[0]: cookbooks.yaml: cookbooks.x: source.type: expected "
                       "one of: git, s3, archive, http, local");

        put("empty/README", "nothing here\n");
        none = local_sources("empty", NULL);
        assert_refused(none, ENOENT,
                       "cookbook_sources[0]: no cookbook in the source (expected metadata.yaml "
                       "at its root or in directories below it, or a cookbooks.yaml)");

        bad_type = sources("[{\"type\": \"ftp\", \"url\": \"/x\"}]");
        assert_refused(bad_type, EINVAL,
                       "cookbook_sources[0]: source.type: expected one of: git, s3, archive, "
                       "http, local");
}
END_TEST

/* A run resolves `current` once: the tree it got stays whole through the next update, and is
 * removed only by the one after. */
START_TEST(test_old_or_new_never_mixed) {
        _cleanup_json_ json_object *s = NULL;
        _cleanup_free_ char *t1 = NULL, *t2 = NULL, *t3 = NULL, *trees = at(cache, "cookbooks/trees");
        struct stat st;

        cookbook("repo", "web", "1.0.0", NULL);
        s = local_sources("repo", NULL);
        update_ok(s);
        t1 = current();

        cookbook("repo", "web", "2.0.0", NULL);
        update_ok(s);
        t2 = current();
        ck_assert_str_ne(t1, t2);
        assert_tree_file(t1, "web/metadata.yaml", "name: web\nversion: 1.0.0\n");
        assert_tree_file(t1, "web/recipes/default.yaml",
                         "- file: {path: \"{{out}}/web\", content: \"web 1.0.0\"}\n");
        assert_tree_file(t2, "web/metadata.yaml", "name: web\nversion: 2.0.0\n");
        assert_tree_file(t2, "web/recipes/default.yaml",
                         "- file: {path: \"{{out}}/web\", content: \"web 2.0.0\"}\n");

        cookbook("repo", "web", "3.0.0", NULL);
        update_ok(s);
        t3 = current();
        ck_assert_int_eq(stat(t1, &st), -1);
        ck_assert_int_eq(errno, ENOENT);
        assert_tree_file(t2, "web/metadata.yaml", "name: web\nversion: 2.0.0\n");
        assert_tree_file(t3, "web/metadata.yaml", "name: web\nversion: 3.0.0\n");
        {
                _cleanup_free_ char *expected = strf("%s %s", strrchr(t2, '/') + 1,
                                                     strrchr(t3, '/') + 1);
                assert_listing(trees, expected);
        }
}
END_TEST

START_TEST(test_no_sources) {
        _cleanup_json_ json_object *empty = sources("[]");
        _cleanup_free_ char *tree = NULL;

        update_ok(empty);
        tree = current();
        assert_listing(tree, "");
}
END_TEST

/* The real thing: a git repository of cookbooks (web) whose cookbooks.yaml pulls extra from a
 * second repository, and a one-cookbook tarball (base) over http; then a push that asks for an
 * extra nobody has, which keeps the tree that was current. */
START_TEST(test_git_and_archive) {
        _cleanup_free_ char *commit = NULL, *extra_commit = NULL, *repo_url = NULL,
                            *extra_url = NULL, *list = NULL, *cmd = NULL, *tarball = NULL,
                            *bytes = NULL, *json_text = NULL, *error = NULL, *tree = NULL,
                            *expected = NULL, *work = NULL, *list_path = NULL;
        _cleanup_json_ json_object *s = NULL, *info = NULL;
        GitServer git = {};
        TestNginx *nginx;
        char sha[65];
        size_t size;

        git_server_start(&git);
        extra_url = git_server_url(&git, "extra.git");
        extra_commit = git_server_repo(&git, "extra.git", "metadata.yaml",
                                       "name: extra\nversion: 2.1.0\n", "recipes/default.yaml",
                                       "[]\n", NULL);
        list = strf("cookbooks:\n  extra:\n    source: {type: git, url: \"%s\"}\n"
                    "    version: \"~> 2.0\"\n",
                    extra_url);
        commit = git_server_repo(&git, "cookbooks.git", "web/metadata.yaml",
                                 "name: web\nversion: 1.0.0\ndepends: {base: \">= 1.0\", "
                                 "extra: \">= 2\"}\n",
                                 "web/recipes/default.yaml", "[]\n", "cookbooks.yaml", list,
                                 NULL);
        repo_url = git_server_url(&git, "cookbooks.git");

        cookbook("base", "base", "1.2.0", NULL);
        tarball = at(dir, "base.tar.gz");
        cmd = strf("tar -C '%s/base' -czf '%s' metadata.yaml recipes", dir, tarball);
        ck_assert_int_eq(system(cmd), 0);
        ck_assert_int_eq(read_full_file(tarball, 1U << 20, &bytes, &size), 0);
        ck_assert_int_eq(sha256_hex(bytes, size, sha), 0);
        nginx = test_nginx_start(NULL);
        test_nginx_serve(nginx, "base.tar.gz", bytes, size);

        json_text = strf("[{\"type\": \"git\", \"url\": \"%s\"}, {\"type\": \"http\", "
                         "\"url\": \"%s/base.tar.gz\", \"sha256\": \"%s\"}]",
                         repo_url, nginx->url, sha);
        s = sources(json_text);
        ck_assert_msg(update(s, &info, &error) == 0, "%s", strempty(error));
        tree = current();
        assert_listing(tree, "base extra web");
        assert_tree_file(tree, "extra/metadata.yaml", "name: extra\nversion: 2.1.0\n");
        assert_tree_file(tree, "base/metadata.yaml", "name: base\nversion: 1.2.0\n");
        {
                _cleanup_free_ char *web = at(tree, "web");
                assert_listing(web, "metadata.yaml recipes");
        }
        {
                /* nginx's ETag: quoted, as HTTP has it. */
                json_object *archive = json_object_array_get_idx(
                        json_object_object_get(info, "sources"), 1);
                const char *etag = json_get_string(archive, "etag");

                ck_assert_msg(etag && startswith(etag, "\"") && endswith(etag, "\""), "%s",
                              strempty(etag));
                json_object_object_del(archive, "etag");
        }
        expected = strf("[{\"type\":\"git\",\"url\":\"%s\",\"revision\":\"%s\","
                        "\"from\":\"cookbook_sources[0]\"},"
                        "{\"type\":\"http\",\"url\":\"%s/base.tar.gz\",\"revision\":\"%s\","
                        "\"from\":\"cookbook_sources[1]\"},"
                        "{\"type\":\"git\",\"url\":\"%s\",\"revision\":\"%s\","
                        "\"from\":\"cookbook_sources[0]: cookbooks.yaml: cookbooks.extra\"}]",
                        repo_url, commit, nginx->url, sha, extra_url, extra_commit);
        ck_assert_str_eq(plain(json_object_object_get(info, "sources")), expected);

        /* The repository now wants an extra that does not exist. */
        work = git_server_work(&git, "cookbooks.git");
        list_path = at(work, "cookbooks.yaml");
        free(list);
        list = strf("cookbooks:\n  extra:\n    source: {type: git, url: \"%s\"}\n"
                    "    version: \">= 3.0\"\n",
                    extra_url);
        test_write(list_path, list);
        free(git_server_git(work, "commit", "-q", "-a", "-m", "extra 3", NULL));
        free(git_server_git(work, "push", "-q", "origin", "main", NULL));
        assert_refused(s, ERANGE,
                       "cookbook_sources[0]: cookbooks.yaml: wants cookbook extra >= 3.0, but "
                       "cookbook_sources[0]: cookbooks.yaml: cookbooks.extra has extra 2.1.0");
        {
                _cleanup_free_ char *now = current();
                ck_assert_str_eq(now, tree);
        }
        assert_tree_file(tree, "extra/metadata.yaml", "name: extra\nversion: 2.1.0\n");

        test_rmdir(work);
        test_nginx_free(nginx);
        git_server_stop(&git);
}
END_TEST

/* Runs one command through lifecycle_run as the worker would; returns its result. */
static json_object *run_command(AgentConfig *cfg, json_object *stack, const char *command_json) {
        char *builtin[] = { (char *) getenv("STRATA_BUILTIN_COOKBOOKS"), NULL };
        _cleanup_json_ json_object *command = sources(command_json), *node = NULL;
        json_object *result = NULL;
        LifecycleRun run = {
                .config = cfg,
                .builtin_cookbooks = builtin,
                .command = command,
                .stack = stack,
                .agent_binary = getenv("STRATA_AGENT"),
        };

        ck_assert_int_eq(lifecycle_run(&run, &result, &node), 0);
        ck_assert_ptr_nonnull(result);
        return result;
}

static void assert_status(json_object *result, const char *status) {
        ck_assert_msg(streq_ptr(json_get_string(result, "status"), status), "%s", plain(result));
}

/* update_custom_cookbooks through the lifecycle, and the tree on the path of later commands:
 * after the built-in cookbook, before the configured cookbook_path. */
START_TEST(test_lifecycle) {
        _cleanup_(agent_config_freep) AgentConfig *cfg = NULL;
        _cleanup_json_ json_object *doc = NULL, *stack = NULL, *r1 = NULL, *r2 = NULL, *r3 = NULL,
                                   *r4 = NULL;
        _cleanup_free_ char *yaml = NULL, *conf = at(cache, "agent.yaml"), *error = NULL,
                            *stack_yaml = NULL, *out = test_tmpdir(), *execute = NULL,
                            *web = NULL, *got = NULL;

        cookbook("repo", "web", "1.0.0", NULL);
        cookbook("configured", "web", "9.0.0", NULL);
        yaml = strf("instance_id: i-1\nstack_id: s\ncache_dir: %s\nstate_dir: %s/state\n"
                    "log_dir: %s/log\ncookbook_path: [%s/configured]\nrun_as: " TEST_USER "\n",
                    cache, cache, cache, dir);
        test_write(conf, yaml);
        ck_assert_msg(agent_config_load(conf, &cfg, &error) == 0, "%s", strempty(error));

        stack_yaml = strf("stack: {cookbook_sources: [{type: local, url: \"%s/repo\"}]}\n", dir);
        ck_assert_int_eq(yaml_load("stack.yaml", stack_yaml, strlen(stack_yaml), &doc, NULL), 0);
        ck_assert_msg(stack_normalize("stack.yaml", doc, "i-1", "s", &stack, &error) == 0, "%s",
                      strempty(error));

        execute = strf("{\"id\": \"c2\", \"type\": \"execute_recipes\", \"args\": "
                       "{\"recipes\": [\"web\"]}, \"custom_json\": {\"out\": \"%s\"}}",
                       out);
        web = at(out, "web");

        /* Before any update: the configured path's web. */
        r1 = run_command(cfg, stack, execute);
        assert_status(r1, "successful");
        got = test_read(web);
        ck_assert_str_eq(got, "web 9.0.0");

        r2 = run_command(cfg, stack, "{\"id\": \"c1\", \"type\": \"update_custom_cookbooks\"}");
        assert_status(r2, "successful");
        ck_assert_str_eq(json_get_string(json_object_array_get_idx(json_object_object_get(
                                 json_object_object_get(r2, "cookbooks"), "cookbooks"), 0),
                                         "version"),
                         "1.0.0");

        r3 = run_command(cfg, stack, execute);
        assert_status(r3, "successful");
        free(got);
        got = test_read(web);
        ck_assert_str_eq(got, "web 1.0.0");

        /* A failed update says why, and the next run still has the last good tree. */
        {
                _cleanup_free_ char *missing = strf("%s/gone", dir), *reason = NULL;
                json_object *src = json_object_array_get_idx(
                        json_object_object_get(json_object_object_get(stack, "stack"),
                                               "cookbook_sources"),
                        0);

                json_object_object_add(src, "url", json_object_new_string(missing));
                r4 = run_command(cfg, stack, "{\"id\": \"c3\", \"type\": "
                                             "\"update_custom_cookbooks\"}");
                assert_status(r4, "failed");
                reason = strf("cookbook_sources[0]: local source %s: No such file or directory",
                              missing);
                ck_assert_str_eq(json_get_string(r4, "reason"), reason);
        }
        json_object_put(r3);
        r3 = run_command(cfg, stack, execute);
        assert_status(r3, "successful");
        free(got);
        got = test_read(web);
        ck_assert_str_eq(got, "web 1.0.0");
        test_rmdir(out);
}
END_TEST

int main(void) {
        Suite *s = suite_create("cookbook-update");
        TCase *tc = tcase_create("update");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_update);
        tcase_add_test(tc, test_version_conflict_keeps_old_tree);
        tcase_add_test(tc, test_source_errors);
        tcase_add_test(tc, test_old_or_new_never_mixed);
        tcase_add_test(tc, test_no_sources);
        tcase_add_test(tc, test_lifecycle);
        tcase_add_test(tc, test_git_and_archive);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
