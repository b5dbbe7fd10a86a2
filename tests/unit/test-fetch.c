/* SPDX-License-Identifier: MIT */
/* fetch_source() (checking a source, the local type, copy_tree's refusals) and fetch_as_user()
 * running the real `strata-agent fetch` helper as the unprivileged test user. */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "copy-tree.h"
#include "fetch.h"
#include "fs-util.h"
#include "json-util.h"
#include "server-nginx.h"
#include "str-util.h"
#include "time-util.h"
#include "test-helpers.h"

static char *dir; /* fresh for each test */

static void setup(void) {
        dir = test_tmpdir();
}

static void teardown(void) {
        test_rmdir(dir);
        dir = mfree(dir);
}

static char *path(const char *name) {
        char *p = strf("%s/%s", dir, name);

        ck_assert_ptr_nonnull(p);
        return p;
}

static json_object *json(const char *text) {
        json_object *o = NULL;
        _cleanup_free_ char *error = NULL;

        ck_assert_msg(json_parse_strict("test", text, strlen(text), &o, &error) == 0, "%s",
                      strempty(error));
        return o;
}

static const char *plain(json_object *o) {
        return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE);
}

static json_object *local_source(const char *src) {
        _cleanup_free_ char *text = strf("{\"type\": \"local\", \"url\": \"%s\"}", src);

        ck_assert_ptr_nonnull(text);
        return json(text);
}

static void make_dir(const char *p, mode_t mode) {
        ck_assert_int_eq(mkdir(p, mode), 0);
        ck_assert_int_eq(chmod(p, mode), 0);
}

static void write_mode(const char *p, const char *content, mode_t mode) {
        test_write(p, content);
        ck_assert_int_eq(chmod(p, mode), 0);
}

static void assert_link(const char *p, const char *target) {
        char buf[256];
        ssize_t n = readlink(p, buf, sizeof(buf) - 1);

        ck_assert_int_gt(n, 0);
        buf[n] = 0;
        ck_assert_str_eq(buf, target);
}

static void assert_dir(const char *p, mode_t mode, uid_t uid) {
        struct stat st;

        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert(S_ISDIR(st.st_mode));
        ck_assert_uint_eq(st.st_mode & 07777, mode);
        ck_assert_uint_eq(st.st_uid, uid);
}

static size_t count_entries(const char *p) {
        size_t n = 0;
        DIR *dd = opendir(p);
        ck_assert_ptr_nonnull(dd);
        for (struct dirent *de; (de = readdir(dd));)
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        n++;
        closedir(dd);
        return n;
}

/* A tree with everything copy_tree keeps: nested dirs, modes, an inner symlink. */
static char *sample_tree(void) {
        char *src = path("src");
        _cleanup_free_ char *meta = strf("%s/metadata.yaml", src), *run = strf("%s/bin/run", src),
                            *bin = strf("%s/bin", src), *deep = strf("%s/a/b/c.txt", src),
                            *link = strf("%s/bin/meta", src), *ro = strf("%s/ro", src);

        make_dir(src, 0755);
        write_mode(meta, "name: demo\nversion: 1.2.0\n", 0644);
        make_dir(bin, 0750);
        write_mode(run, "#!/bin/sh\necho hi\n", 0755);
        write_mode(deep, "deep\n", 0600);
        ck_assert_int_eq(symlink("../metadata.yaml", link), 0);
        make_dir(ro, 0555);
        return src;
}

static void assert_sample_copy(const char *dest, uid_t uid, gid_t gid) {
        _cleanup_free_ char *meta = strf("%s/metadata.yaml", dest), *run = strf("%s/bin/run", dest),
                            *bin = strf("%s/bin", dest), *deep = strf("%s/a/b/c.txt", dest),
                            *link = strf("%s/bin/meta", dest), *ro = strf("%s/ro", dest);

        test_assert_file(meta, "name: demo\nversion: 1.2.0\n", 0644, uid, gid);
        test_assert_file(run, "#!/bin/sh\necho hi\n", 0755, uid, gid);
        test_assert_file(deep, "deep\n", 0600, uid, gid);
        assert_dir(bin, 0750, uid);
        /* Read-only directories get u+rwx, so whoever owns the copy can remove it. */
        assert_dir(ro, 0755, uid);
        assert_link(link, "../metadata.yaml");
        ck_assert_uint_eq(count_entries(dest), 4);
}

START_TEST(test_local_copies_tree) {
        _cleanup_free_ char *src = sample_tree(), *dest = path("dest"), *error = NULL;
        _cleanup_json_ json_object *source = local_source(src), *info = NULL;
        FetchOptions o = { .cache_dir = dir };

        make_dir(dest, 0755);
        ck_assert_msg(fetch_source(source, dest, &o, &info, &error) == 0, "%s", strempty(error));
        assert_sample_copy(dest, 0, 0);

        _cleanup_free_ char *expected = strf("{\"type\":\"local\",\"url\":\"%s\"}", src);
        ck_assert_str_eq(plain(info), expected);
}
END_TEST

/* fetch_source on a source that must be refused, expecting exactly `expected`. */
static void assert_refused(const char *source_json, int expected_errno, const char *expected) {
        _cleanup_free_ char *dest = path("dest"), *error = NULL;
        _cleanup_json_ json_object *source = json(source_json);
        json_object *info = (json_object *) 1;
        FetchOptions o = { .cache_dir = dir };
        struct stat st;

        if (stat(dest, &st) < 0)
                make_dir(dest, 0755);
        ck_assert_int_eq(fetch_source(source, dest, &o, &info, &error), -expected_errno);
        ck_assert_ptr_eq(info, (json_object *) 1);
        ck_assert_ptr_nonnull(error);
        ck_assert_str_eq(error, expected);
}

START_TEST(test_source_checks) {
        assert_refused("[]", EINVAL, "source: expected a mapping (type, url, revision, ...)");
        assert_refused("{\"url\": \"/x\"}", EINVAL,
                       "source.type: missing (expected one of: git, s3, archive, http, local)");
        assert_refused("{\"type\": \"svn\", \"url\": \"/x\"}", EINVAL,
                       "source.type: expected one of: git, s3, archive, http, local");
        assert_refused("{\"type\": \"git\"}", EINVAL, "source.url: missing");
        assert_refused("{\"type\": \"git\", \"url\": \"git://h/r\", \"revison\": \"v1\"}", EINVAL,
                       "source: unknown key 'revison' (expected type, url, revision, ssh_key, "
                       "submodules, keep_git, username, password, sha256, access_key_id, "
                       "secret_access_key, session_token, region, endpoint)");
        assert_refused("{\"type\": \"local\", \"url\": \"/x\", \"ssh_key\": \"k\"}", EINVAL,
                       "source.ssh_key: only for type git, not local");
        assert_refused("{\"type\": \"git\", \"url\": \"git://h/r\", \"password\": \"p\"}", EINVAL,
                       "source.password: only for type archive and http, not git");
        assert_refused("{\"type\": \"http\", \"url\": \"http://h/a.tgz\", \"sha256\": \"abc\"}",
                       EINVAL, "source.sha256: expected 64 hex digits");
        assert_refused("{\"type\": \"git\", \"url\": \"git://h/r\", \"submodules\": \"yes\"}",
                       EINVAL, "source.submodules: expected true or false");
        assert_refused("{\"type\": \"git\", \"url\": \"\"}", EINVAL,
                       "source.url: expected a non-empty string");
        assert_refused("{\"type\": \"s3\", \"url\": 3}", EINVAL,
                       "source.url: expected a non-empty string");
        assert_refused("{\"type\": \"local\", \"url\": \"cookbooks\"}", EINVAL,
                       "source.url: expected an absolute path of a directory for type local");
}
END_TEST

START_TEST(test_local_missing) {
        _cleanup_free_ char *missing = path("missing"), *file = path("file"), *e1 = NULL,
                            *e2 = NULL, *s1 = NULL, *s2 = NULL;

        test_write(file, "x");
        s1 = strf("{\"type\": \"local\", \"url\": \"%s\"}", missing);
        e1 = strf("local source %s: No such file or directory", missing);
        assert_refused(s1, ENOENT, e1);
        s2 = strf("{\"type\": \"local\", \"url\": \"%s\"}", file);
        e2 = strf("local source %s: not a directory", file);
        assert_refused(s2, ENOTDIR, e2);
}
END_TEST

/* copy_tree of src refused with exactly `expected`. */
static void assert_copy_refused(const char *src, int expected_errno, const char *expected) {
        _cleanup_free_ char *dest = path("copy"), *error = NULL;

        (void) rm_rf(dest);
        make_dir(dest, 0755);
        ck_assert_int_eq(copy_tree(src, dest, &error), -expected_errno);
        ck_assert_ptr_nonnull(error);
        ck_assert_str_eq(error, expected);
}

START_TEST(test_copy_refuses_links_out) {
        _cleanup_free_ char *src = path("src"), *sub = path("src/sub"), *abs = path("src/abs"),
                            *up = path("src/sub/up"), *e = NULL;

        make_dir(src, 0755);
        make_dir(sub, 0755);

        ck_assert_int_eq(symlink("/etc/passwd", abs), 0);
        e = strf("%s/abs: symlink to '/etc/passwd' is absolute (expected a relative symlink "
                 "inside the tree)",
                 src);
        assert_copy_refused(src, EPERM, e);
        ck_assert_int_eq(unlink(abs), 0);

        ck_assert_int_eq(symlink("../../etc", up), 0);
        free(e);
        e = strf("copy of %s: %s/copy/sub/up: symlink to '../../etc' leads out of the tree", src,
                 dir);
        assert_copy_refused(src, EPERM, e);
        ck_assert_int_eq(unlink(up), 0);

        /* Lexically inside, but sub/self is the tree's root, so self/.. is its parent. */
        _cleanup_free_ char *self = path("src/sub/self"), *sneaky = path("src/sub/sneaky");
        ck_assert_int_eq(symlink("..", self), 0);
        ck_assert_int_eq(symlink("self/../x", sneaky), 0);
        free(e);
        e = strf("copy of %s: %s/copy/sub/sneaky: symlink to 'self/../x' leads out of the tree",
                 src, dir);
        assert_copy_refused(src, EPERM, e);
        ck_assert_int_eq(unlink(sneaky), 0);

        /* Through the same link but staying inside: fine, and so is a dangling one. */
        _cleanup_free_ char *fine = path("src/sub/fine"), *dangling = path("src/dangling"),
                            *dest = path("copy"), *error = NULL;
        ck_assert_int_eq(symlink("self/sub/../x", fine), 0);
        ck_assert_int_eq(symlink("nowhere/file", dangling), 0);
        (void) rm_rf(dest);
        make_dir(dest, 0755);
        ck_assert_msg(copy_tree(src, dest, &error) == 0, "%s", strempty(error));
        _cleanup_free_ char *cf = path("copy/sub/fine");
        assert_link(cf, "self/sub/../x");
}
END_TEST

START_TEST(test_copy_refuses_special_files) {
        _cleanup_free_ char *src = path("src"), *fifo = path("src/pipe"), *e = NULL;

        make_dir(src, 0755);
        ck_assert_int_eq(mkfifo(fifo, 0644), 0);
        e = strf("%s/pipe: is a fifo (expected a file, a directory or a symlink)", src);
        assert_copy_refused(src, EPERM, e);
}
END_TEST

START_TEST(test_copy_drops_setuid_and_write) {
        _cleanup_free_ char *src = path("src"), *f = path("src/suid"), *dest = path("copy"),
                            *copy = path("copy/suid"), *w = path("src/open"),
                            *wcopy = path("copy/open"), *d = path("src/shared"),
                            *dcopy = path("copy/shared"), *error = NULL;

        make_dir(src, 0755);
        write_mode(f, "x", 04755);
        write_mode(w, "y", 0666);
        make_dir(d, 01777);
        make_dir(dest, 0755);
        ck_assert_msg(copy_tree(src, dest, &error) == 0, "%s", strempty(error));
        test_assert_file(copy, "x", 0755, 0, 0);
        test_assert_file(wcopy, "y", 0644, 0, 0);
        assert_dir(dcopy, 0755, 0);
}
END_TEST

/* ---- fetch_as_user ---- */

static const char *agent_binary(void) {
        const char *b = getenv("STRATA_AGENT");

        ck_assert_msg(b != NULL, "STRATA_AGENT must name the built strata-agent");
        return b;
}

static void collect(int priority, const LogContext *ctx, const char *message, void *userdata) {
        (void) ctx;
        ck_assert_int_ge(strbuf_printf(userdata, "%d %s\n", priority, message), 0);
}

static char *user_dir(const char *name) {
        char *p = path(name);

        make_dir(p, 0755);
        ck_assert_int_eq(chown(p, test_user_uid(), (gid_t) -1), 0);
        return p;
}

START_TEST(test_as_user_local) {
        _cleanup_free_ char *src = sample_tree(), *dest = user_dir("dest"), *cache = path("c/fetch"),
                            *error = NULL;
        _cleanup_json_ json_object *source = local_source(src), *info = NULL;
        _cleanup_(strbuf_done) StrBuf logs = {};
        uid_t uid;
        gid_t gid;
        FetchOptions o = {
                .cache_dir = cache,
                .agent_binary = agent_binary(),
                .log = collect,
                .log_userdata = &logs,
        };

        ck_assert_int_eq(resolve_user(TEST_USER, &uid, &gid), 0);
        /* What only its owner may read. */
        _cleanup_free_ char *deep = strf("%s/a/b/c.txt", src), *bin = strf("%s/bin", src);
        ck_assert_int_eq(chown(deep, uid, gid), 0);
        ck_assert_int_eq(chown(bin, uid, gid), 0);
        ck_assert_msg(fetch_as_user(source, dest, TEST_USER, &o, &info, &error) == 0, "%s",
                      strempty(error));
        /* Written by the helper, so the user's, not root's. */
        assert_sample_copy(dest, uid, gid);
        _cleanup_free_ char *expected = strf("{\"type\":\"local\",\"url\":\"%s\"}", src);
        ck_assert_str_eq(plain(info), expected);
        _cleanup_free_ char *log = strf("6 copying %s\n", src);
        ck_assert_str_eq(strempty(logs.data), log);

        /* The cache: the user's, private, and the request file is gone. */
        assert_dir(cache, 0700, uid);
        ck_assert_uint_eq(count_entries(cache), 0);
}
END_TEST

START_TEST(test_as_user_dest_of_root) {
        _cleanup_free_ char *src = sample_tree(), *dest = path("dest"), *cache = path("cache"),
                            *error = NULL, *expected = NULL;
        _cleanup_json_ json_object *source = local_source(src);
        json_object *info = NULL;
        FetchOptions o = { .cache_dir = cache, .agent_binary = agent_binary() };

        make_dir(dest, 0777);
        ck_assert_int_eq(fetch_as_user(source, dest, TEST_USER, &o, &info, &error), -EPERM);
        expected = strf("fetch destination %s: owned by uid 0, expected the fetch user " TEST_USER
                        " (uid %u)",
                        dest, (unsigned) test_user_uid());
        ck_assert_str_eq(error, expected);
        ck_assert_ptr_null(info);
        ck_assert_uint_eq(count_entries(dest), 0);
}
END_TEST

/* A source only root can read: the helper, running as the user, cannot. */
START_TEST(test_as_user_is_unprivileged) {
        _cleanup_free_ char *src = sample_tree(), *dest = user_dir("dest"), *cache = path("cache"),
                            *error = NULL, *expected = NULL;
        _cleanup_json_ json_object *source = local_source(src);
        json_object *info = NULL;
        FetchOptions o = { .cache_dir = cache, .agent_binary = agent_binary() };

        ck_assert_int_eq(chmod(src, 0700), 0);
        ck_assert_int_eq(fetch_as_user(source, dest, TEST_USER, &o, &info, &error), -EACCES);
        expected = strf("%s: cannot open the directory: Permission denied", src);
        ck_assert_str_eq(error, expected);
        ck_assert_ptr_null(info);
        ck_assert_uint_eq(count_entries(cache), 0);
}
END_TEST

START_TEST(test_as_user_errors) {
        _cleanup_free_ char *dest = user_dir("dest"), *cache = path("cache"), *error = NULL;
        _cleanup_json_ json_object *bad = json("{\"type\": \"local\", \"url\": \"rel\"}");
        json_object *info = NULL;
        FetchOptions o = { .cache_dir = cache, .agent_binary = agent_binary() };

        /* The helper's own error, with its errno. */
        ck_assert_int_eq(fetch_as_user(bad, dest, TEST_USER, &o, &info, &error), -EINVAL);
        ck_assert_str_eq(error,
                         "source.url: expected an absolute path of a directory for type local");
        error = mfree(error);

        ck_assert_int_eq(fetch_as_user(bad, dest, "root", &o, &info, &error), -EPERM);
        ck_assert_str_eq(error, "fetch user 'root' is root; sources are fetched by an "
                                "unprivileged user");
        error = mfree(error);

        ck_assert_int_eq(fetch_as_user(bad, dest, "no-such-user-x", &o, &info, &error), -ESRCH);
        ck_assert_str_eq(error, "fetch user 'no-such-user-x': no such user");
        error = mfree(error);

        /* A cache someone else owns is not the user's cache. */
        _cleanup_free_ char *other = path("other"), *expected = NULL;
        make_dir(other, 0700);
        o.cache_dir = other;
        ck_assert_int_eq(fetch_as_user(bad, dest, TEST_USER, &o, &info, &error), -EPERM);
        expected = strf("fetch cache %s: owned by uid 0, expected the fetch user " TEST_USER
                        " (uid %u)",
                        other, (unsigned) test_user_uid());
        ck_assert_str_eq(error, expected);
        ck_assert_ptr_null(info);
}
END_TEST

/* The helper itself will not run as root. */
START_TEST(test_helper_refuses_root) {
        _cleanup_free_ char *request = path("request.json"), *out = path("out"), *cmd = NULL,
                            *got = NULL;
        int status;

        test_write(request, "{}");
        cmd = strf("'%s' fetch '%s' >'%s' 2>&1", agent_binary(), request, out);
        status = system(cmd);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 1);
        got = test_read(out);
        ck_assert_str_eq(got, "{\"error\":\"strata-agent fetch: refusing to run as root (it "
                              "handles untrusted bytes; run it as the fetch user)\",\"errno\":1}\n");
}
END_TEST

/* <dir>/app.tar.gz of index.html (0644), bin/run (0755) and link -> index.html; its bytes. */
static char *make_archive(size_t *ret_size) {
        _cleanup_free_ char *site = path("site"), *index = path("site/index.html"),
                            *run = path("site/bin/run"), *link = path("site/link"),
                            *archive = path("app.tar.gz"), *cmd = NULL;
        char *bytes = NULL;

        write_mode(index, "<h1>hello</h1>\n", 0644);
        write_mode(run, "#!/bin/sh\n", 0755);
        ck_assert_int_eq(symlink("index.html", link), 0);
        cmd = strf("tar -C '%s' -czf '%s' index.html bin link", site, archive);
        ck_assert_int_eq(system(cmd), 0);
        ck_assert_int_eq(read_full_file(archive, 1U << 20, &bytes, ret_size), 0);
        return bytes;
}

static json_object *http_source(TestNginx *n, const char *name, const char *sha256,
                                const char *password) {
        _cleanup_free_ char *text = strf("{\"type\": \"http\", \"url\": \"%s/private/%s\", "
                                         "\"sha256\": \"%s\", \"username\": \"deploy\", "
                                         "\"password\": \"%s\"}",
                                         n->url, name, sha256, password);

        ck_assert_ptr_nonnull(text);
        return json(text);
}

START_TEST(test_as_user_http_archive) {
        _cleanup_free_ char *bytes = NULL, *dest = user_dir("dest"), *cache = path("cache"),
                            *error = NULL, *expected = NULL, *index = NULL,
                            *run = NULL, *link = NULL;
        _cleanup_json_ json_object *source = NULL, *info = NULL;
        char sha[65];
        size_t size;
        uid_t uid;
        gid_t gid;
        FetchOptions o = { .cache_dir = cache, .agent_binary = agent_binary() };
        TestNginx *n;

        bytes = make_archive(&size);
        ck_assert_int_eq(sha256_hex(bytes, size, sha), 0);
        ck_assert_int_eq(resolve_user(TEST_USER, &uid, &gid), 0);

        /* A relative auth_basic_user_file is in nginx's own dir, read at each request. */
        n = test_nginx_start("location /private/ { auth_basic strata; auth_basic_user_file "
                             "htpasswd; }");
        test_nginx_htpasswd(n, "htpasswd", "deploy", "s3cret");
        test_nginx_serve(n, "private/app.tar.gz", bytes, size);

        source = http_source(n, "app.tar.gz", sha, "s3cret");
        ck_assert_msg(fetch_as_user(source, dest, TEST_USER, &o, &info, &error) == 0, "%s",
                      strempty(error));
        index = strf("%s/index.html", dest);
        run = strf("%s/bin/run", dest);
        link = strf("%s/link", dest);
        test_assert_file(index, "<h1>hello</h1>\n", 0644, uid, gid);
        test_assert_file(run, "#!/bin/sh\n", 0755, uid, gid);
        assert_link(link, "index.html");
        ck_assert_str_eq(json_get_string(info, "type"), "http");
        expected = strf("%s/private/app.tar.gz", n->url);
        ck_assert_str_eq(json_get_string(info, "url"), expected);
        ck_assert_str_eq(json_get_string(info, "revision"), sha);
        ck_assert_ptr_nonnull(json_get_string(info, "etag"));

        /* Bytes that are not the ones asked for (under another name: app.tar.gz is cached). */
        {
                _cleanup_free_ char *dest2 = user_dir("dest2"), *e = NULL;
                _cleanup_json_ json_object *wrong = http_source(
                        n, "other.tar.gz",
                        "0000000000000000000000000000000000000000000000000000000000000000",
                        "s3cret");
                json_object *none = NULL;

                test_nginx_serve(n, "private/other.tar.gz", bytes, size);
                error = mfree(error);
                ck_assert_int_eq(fetch_as_user(wrong, dest2, TEST_USER, &o, &none, &error),
                                 -EBADMSG);
                e = strf("GET %s/private/other.tar.gz: sha256 mismatch: expected "
                         "0000000000000000000000000000000000000000000000000000000000000000, "
                         "got %s",
                         n->url, sha);
                ck_assert_str_eq(error, e);
                ck_assert_ptr_null(none);
                ck_assert_uint_eq(count_entries(dest2), 0);
        }

        /* A wrong password. */
        {
                _cleanup_free_ char *dest3 = user_dir("dest3"), *e = NULL;
                _cleanup_json_ json_object *denied = http_source(n, "app.tar.gz", sha, "wrong");
                json_object *none = NULL;

                error = mfree(error);
                ck_assert_int_eq(fetch_as_user(denied, dest3, TEST_USER, &o, &none, &error), -EIO);
                e = strf("GET %s/private/app.tar.gz: HTTP 401", n->url);
                ck_assert_str_eq(error, e);
        }
        test_nginx_free(n);
}
END_TEST

/* The worker's proxy settings reach the helper (through its request, not its environment): a
 * dead proxy makes the download fail, NO_PROXY for the server makes it work again. */
START_TEST(test_as_user_proxy_environment) {
        _cleanup_free_ char *bytes = NULL, *dest = user_dir("dest"), *dest2 = user_dir("dest2"),
                            *cache = path("cache"), *error = NULL, *proxy = NULL;
        _cleanup_json_ json_object *source = NULL, *info = NULL;
        json_object *none = NULL;
        char sha[65];
        size_t size;
        FetchOptions o = { .cache_dir = cache, .agent_binary = agent_binary() };
        TestNginx *n;

        bytes = make_archive(&size);
        ck_assert_int_eq(sha256_hex(bytes, size, sha), 0);
        n = test_nginx_start("location /private/ { auth_basic strata; auth_basic_user_file "
                             "htpasswd; }");
        test_nginx_htpasswd(n, "htpasswd", "deploy", "s3cret");
        test_nginx_serve(n, "private/app.tar.gz", bytes, size);
        source = http_source(n, "app.tar.gz", sha, "s3cret");

        proxy = strf("http://127.0.0.1:%u", test_free_port());
        ck_assert_int_eq(setenv("http_proxy", proxy, 1), 0);
        ck_assert_int_lt(fetch_as_user(source, dest, TEST_USER, &o, &none, &error), 0);
        ck_assert_msg(strstr(error, "proxy") || strstr(error, "onnect"), "%s", error);
        ck_assert_ptr_null(none);

        ck_assert_int_eq(setenv("NO_PROXY", "127.0.0.1", 1), 0);
        error = mfree(error);
        ck_assert_msg(fetch_as_user(source, dest2, TEST_USER, &o, &info, &error) == 0, "%s",
                      strempty(error));
        ck_assert_str_eq(json_get_string(info, "revision"), sha);
        unsetenv("http_proxy");
        unsetenv("NO_PROXY");
        test_nginx_free(n);
}
END_TEST

/* A server that accepts connections (the kernel does, into the backlog) and never answers:
 * the helper waits until fetch_as_user's timeout stops it. */
START_TEST(test_as_user_timeout) {
        _cleanup_free_ char *dest = user_dir("dest"), *cache = path("cache"), *error = NULL,
                            *text = NULL;
        _cleanup_json_ json_object *source = NULL;
        _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        json_object *info = NULL;
        FetchOptions o = {
                .cache_dir = cache,
                .agent_binary = agent_binary(),
                .timeout = 1 * USEC_PER_SEC,
        };
        usec_t start;

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        ck_assert_int_eq(listen(fd, 8), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *) &sa, &len), 0);
        text = strf("{\"type\": \"http\", \"url\": \"http://127.0.0.1:%u/app.tgz\"}",
                    (unsigned) ntohs(sa.sin_port));
        source = json(text);

        start = now_usec(CLOCK_MONOTONIC);
        ck_assert_int_eq(fetch_as_user(source, dest, TEST_USER, &o, &info, &error), -ETIMEDOUT);
        ck_assert_str_eq(error, "fetch timed out after 1 s");
        ck_assert_ptr_null(info);
        /* TERM ends the helper at once: no wait for the KILL grace. */
        ck_assert_uint_lt(now_usec(CLOCK_MONOTONIC) - start, 4 * USEC_PER_SEC);
}
END_TEST

int main(void) {
        Suite *s = suite_create("fetch");
        TCase *tc = tcase_create("local");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_local_copies_tree);
        tcase_add_test(tc, test_source_checks);
        tcase_add_test(tc, test_local_missing);
        tcase_add_test(tc, test_copy_refuses_links_out);
        tcase_add_test(tc, test_copy_refuses_special_files);
        tcase_add_test(tc, test_copy_drops_setuid_and_write);
        suite_add_tcase(s, tc);

        tc = tcase_create("as_user");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_as_user_local);
        tcase_add_test(tc, test_as_user_dest_of_root);
        tcase_add_test(tc, test_as_user_is_unprivileged);
        tcase_add_test(tc, test_as_user_errors);
        tcase_add_test(tc, test_helper_refuses_root);
        tcase_add_test(tc, test_as_user_http_archive);
        tcase_add_test(tc, test_as_user_proxy_environment);
        tcase_add_test(tc, test_as_user_timeout);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
