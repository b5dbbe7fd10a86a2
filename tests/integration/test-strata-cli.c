/* SPDX-License-Identifier: MIT */
/* strata, the operator CLI, against a real etcd (server-etcd.h) with authentication on, as
 * `strata init` leaves it: what it stores (exact bytes, in the agent's shapes), what it prints
 * (AWS shapes), what it refuses and with which exit status and words, and what the credentials
 * it makes for an instance may and may not do. One etcd serves the whole suite; each test works
 * under a prefix of its own. */
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "etcd-gateway.h"
#include "json-util.h"
#include "server-etcd.h"
#include "stack.h"
#include "str-util.h"
#include "test-helpers.h"

#define ADMIN_PASSWORD "admin-secret-1"

static TestEtcd *etcd;
static char *suite_dir, *admin_password_file, *admin_token;

/* Per test: its prefix and temp dir; who the CLI runs as (NULL user: nobody). */
static char *prefix, *tmp;
static const char *as_user, *as_password_file;
static unsigned test_counter;

static char *path_in(const char *name) {
        char *p = strf("%s/%s", tmp, name);

        ck_assert_ptr_nonnull(p);
        return p;
}

static char *key(const char *fmt, ...) _printf_(1, 2);
static char *key(const char *fmt, ...) {
        _cleanup_free_ char *rel = NULL;
        va_list ap;
        char *k;

        va_start(ap, fmt);
        ck_assert_int_ge(vasprintf(&rel, fmt, ap), 0);
        va_end(ap);
        k = strf("%s/%s", prefix, rel);
        ck_assert_ptr_nonnull(k);
        return k;
}

/* Runs strata with the suite's endpoint and the test's prefix and user: its exit status,
 * stdout and stderr. Under the valgrind setup the CLI runs under valgrind too. */
static int strata_v(char **ret_out, char **ret_err, const char *first, va_list ap) {
        const char *bin = getenv("STRATA_CLI");
        _cleanup_free_ char *outpath = path_in(".out"), *errpath = path_in(".err");
        char *argv[64];
        size_t n = 0;
        pid_t pid;
        int status;

        ck_assert_msg(bin, "STRATA_CLI is not set (run through meson test)");
        if (getenv("STRATA_UNDER_VALGRIND")) {
                argv[n++] = (char *)"valgrind";
                argv[n++] = (char *)"--quiet";
                argv[n++] = (char *)"--error-exitcode=99";
                argv[n++] = (char *)"--leak-check=full";
                argv[n++] = (char *)"--errors-for-leak-kinds=definite";
        }
        argv[n++] = (char *)bin;
        argv[n++] = (char *)first;
        while ((argv[n] = va_arg(ap, char *)))
                ck_assert_uint_lt(++n, ELEMENTSOF(argv) - 1);

        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int out = open(outpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                int err = open(errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

                if (out < 0 || err < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
                        _exit(127);
                setenv("STRATA_ENDPOINTS", etcd->endpoint, 1);
                setenv("STRATA_PREFIX", prefix, 1);
                unsetenv("STRATA_USER");
                unsetenv("STRATA_PASSWORD_FILE");
                if (as_user) {
                        setenv("STRATA_USER", as_user, 1);
                        setenv("STRATA_PASSWORD_FILE", as_password_file, 1);
                }
                execvp(argv[0], argv);
                _exit(127);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status), "strata died of signal %d", WTERMSIG(status));
        *ret_out = test_read(outpath);
        *ret_err = test_read(errpath);
        ck_assert_ptr_nonnull(*ret_out);
        ck_assert_ptr_nonnull(*ret_err);
        return WEXITSTATUS(status);
}

static int strata(char **ret_out, char **ret_err, const char *first, ...) {
        va_list ap;
        int r;

        va_start(ap, first);
        r = strata_v(ret_out, ret_err, first, ap);
        va_end(ap);
        return r;
}

static json_object *parse(const char *text) {
        json_object *o = NULL;

        ck_assert_msg(json_parse_strict("output", text, strlen(text), &o, NULL) >= 0, "%s", text);
        return o;
}

/* Runs strata, asserting exit 0 and nothing on stderr; its stdout parsed. */
static json_object *ok(const char *first, ...) {
        _cleanup_free_ char *out = NULL, *err = NULL;
        va_list ap;
        int r;

        va_start(ap, first);
        r = strata_v(&out, &err, first, ap);
        va_end(ap);
        ck_assert_msg(r == 0, "strata %s: exit %d: %s", first, r, err);
        ck_assert_str_eq(err, "");
        return *out ? parse(out) : NULL;
}

/* Runs strata, asserting that exit status, empty stdout and exactly this stderr. */
static void fails(int status, const char *expected_err, const char *first, ...) {
        _cleanup_free_ char *out = NULL, *err = NULL;
        va_list ap;
        int r;

        va_start(ap, first);
        r = strata_v(&out, &err, first, ap);
        va_end(ap);
        ck_assert_msg(r == status, "strata %s: exit %d, expected %d: %s", first, r, status, err);
        ck_assert_str_eq(out, "");
        ck_assert_str_eq(err, expected_err);
}

/* The value of "<name>" in a one-key output, for the caller to free. */
static char *id_of(json_object *o, const char *name) {
        const char *id = json_get_string(o, name);
        char *copy;

        ck_assert_msg(id, "no %s in %s", name, json_object_to_json_string(o));
        /* Sortable ids: 20261125T115959Z-a1b2c3. */
        ck_assert_uint_eq(strlen(id), 23);
        ck_assert_int_eq(id[8], 'T');
        ck_assert_int_eq(id[15], 'Z');
        ck_assert_int_eq(id[16], '-');
        copy = strdup(id);
        ck_assert_ptr_nonnull(copy);
        json_object_put(o);
        return copy;
}

static void assert_json(json_object *got, const char *expected) {
        _cleanup_json_ json_object *want = parse(expected);

        ck_assert_msg(json_object_equal(got, want), "got %s\nexpected %s",
                      json_object_to_json_string(got), json_object_to_json_string(want));
}

/* The stored value of a key (as admin), exactly. */
static void assert_stored(const char *k, const char *expected) {
        _cleanup_free_ char *v = test_etcd_get(etcd, admin_token, k);

        ck_assert_msg(v, "%s is missing", k);
        ck_assert_str_eq(v, expected);
}

static char *stored(const char *k) {
        char *v = test_etcd_get(etcd, admin_token, k);

        ck_assert_msg(v, "%s is missing", k);
        return v;
}

/* A field of a stored record. */
static char *stored_field(const char *k, const char *field) {
        _cleanup_free_ char *v = stored(k);
        _cleanup_json_ json_object *o = parse(v);
        char *s = strdup(strempty(json_get_string(o, field)));

        ck_assert_ptr_nonnull(s);
        return s;
}

static void suite_setup(void) {
        _cleanup_free_ char *out = NULL, *err = NULL;
        int r;

        suite_dir = test_tmpdir();
        admin_password_file = strf("%s/admin-password", suite_dir);
        ck_assert_ptr_nonnull(admin_password_file);
        test_write(admin_password_file, ADMIN_PASSWORD "\n");
        etcd = test_etcd_start();

        tmp = suite_dir;
        prefix = (char *)"/strata/v1";
        r = strata(&out, &err, "init", "--admin-password-file", admin_password_file, NULL);
        ck_assert_msg(r == 0, "init: exit %d: %s", r, err);
        tmp = NULL;
        prefix = NULL;
}

static void suite_teardown(void) {
        test_etcd_free(etcd);
        etcd = NULL;
        test_rmdir(suite_dir);
        suite_dir = mfree(suite_dir);
        admin_password_file = mfree(admin_password_file);
}

static void setup(void) {
        tmp = test_tmpdir();
        prefix = strf("/t/%d-%u", (int)getpid(), test_counter++);
        ck_assert_ptr_nonnull(prefix);
        as_user = "admin";
        as_password_file = admin_password_file;
        admin_token = test_etcd_token(etcd, "admin", ADMIN_PASSWORD);
}

static void teardown(void) {
        admin_token = mfree(admin_token);
        test_rmdir(tmp);
        tmp = mfree(tmp);
        prefix = mfree(prefix);
}

START_TEST(init_again_changes_nothing) {
        _cleanup_json_ json_object *o = NULL;
        _cleanup_free_ char *body = NULL, *meta = NULL, *meta2 = NULL, *k = NULL;

        free(prefix);
        prefix = strdup("/strata/v1");
        ck_assert_ptr_nonnull(prefix);
        k = key("meta");
        meta = stored(k);

        /* Authentication is on: without a user init goes on as admin. */
        as_user = NULL;
        o = ok("init", "--admin-password-file", admin_password_file, NULL);
        assert_json(o, "{\"Prefix\": \"/strata/v1\", \"AdminUser\": \"admin\", "
                       "\"AuthEnabled\": true}");
        meta2 = stored(k);
        ck_assert_str_eq(meta2, meta);

        /* Still on: nobody gets in without a user. */
        ck_assert_int_eq(test_etcd_post(etcd, ETCD_PATH_RANGE, "{\"key\":\"eA==\"}", NULL, &body),
                         400);
        ck_assert_ptr_nonnull(strstr(body, "user name is empty"));
        fails(1,
              "strata: authentication required: etcd has auth enabled and no user was given "
              "(etcd: etcdserver: user name is empty)\n",
              "describe-stacks", NULL);
}
END_TEST

START_TEST(wrong_password_exits_1) {
        _cleanup_free_ char *wrong = path_in("wrong"), *missing = path_in("missing");

        test_write(wrong, "not-the-password\n");
        as_password_file = wrong;
        fails(1,
              "strata: etcd user 'admin': authentication failed: wrong user name or password "
              "(etcd: etcdserver: authentication failed, invalid user ID or password)\n",
              "describe-stacks", NULL);

        /* init with a wrong admin password is refused the same way, and changes nothing. */
        as_user = NULL;
        fails(1,
              "strata: init: etcd user 'admin': authentication failed: wrong user name or "
              "password (etcd: etcdserver: authentication failed, invalid user ID or password)\n",
              "init", "--admin-password-file", wrong, NULL);

        as_user = "admin";
        as_password_file = missing;
        {
                _cleanup_free_ char *want =
                        strf("strata: --password-file %s: No such file or directory\n", missing);

                fails(1, want, "describe-stacks", NULL);
        }
}
END_TEST

START_TEST(usage_errors_exit_2) {
        fails(2, "strata: no verb given (try strata --help)\n", "--prefix", "/x", NULL);
        fails(2, "strata: unknown verb 'create-stacks' (try strata --help)\n", "create-stacks",
              NULL);
        fails(2, "strata: create-stack: unknown option --nme (try strata create-stack --help)\n",
              "create-stack", "--nme", "x", NULL);
        fails(2, "strata: create-stack: --name is required (try strata create-stack --help)\n",
              "create-stack", NULL);
        fails(2, "strata: create-stack: --name given twice\n", "create-stack", "--name", "a",
              "--name", "b", NULL);
        fails(2, "strata: create-stack: --name needs a value (NAME)\n", "create-stack", "--name",
              NULL);
        fails(2, "strata: create-stack: unexpected argument 'extra' (options are --name VALUE)\n",
              "create-stack", "--name", "a", "extra", NULL);
        fails(2,
              "strata: create-stack: --custom-json: byte 5: unexpected end of data, expected a "
              "JSON value (object, array, string, number, true, false or null)\n",
              "create-stack", "--name", "a", "--custom-json", "{\"a\":", NULL);
        fails(2, "strata: create-stack: --custom-json: expected a JSON object\n", "create-stack",
              "--name", "a", "--custom-json", "[1]", NULL);
        fails(2,
              "strata: create-stack: --custom-cookbooks-source: Type: expected one of git, s3, "
              "archive, http\n",
              "create-stack", "--name", "a", "--custom-cookbooks-source",
              "{\"Type\":\"svn\",\"Url\":\"x\"}", NULL);
        fails(2,
              "strata: create-layer: --shortname 'bad name': expected an identifier of 1 to 64 "
              "letters, digits, '.', '_' or '-', not starting with '.' or '-'\n",
              "create-layer", "--stack-id", "s", "--name", "n", "--shortname", "bad name", NULL);
        fails(2,
              "strata: create-layer: --custom-recipes: unknown key 'Setpu' (expected Setup, "
              "Configure, Deploy, Undeploy, Shutdown)\n",
              "create-layer", "--stack-id", "s", "--name", "n", "--shortname", "n",
              "--custom-recipes", "{\"Setpu\":[]}", NULL);
        fails(2, "strata: describe-layers: expected --stack-id or --layer-ids\n", "describe-layers",
              NULL);
        fails(2, "strata: create-deployment: --instance-ids needs at least one ID\n",
              "create-deployment", "--stack-id", "s", "--command", "{\"Name\":\"setup\"}",
              "--instance-ids", NULL);
        fails(2,
              "strata: create-deployment: --command: Name: expected one of setup, configure, "
              "deploy, undeploy, rollback, start, stop, restart, shutdown, execute_recipes, "
              "update_custom_cookbooks, install_dependencies, update_dependencies\n",
              "create-deployment", "--stack-id", "s", "--command", "{\"Name\":\"reboot\"}", NULL);
        as_user = NULL;
        fails(2, "strata: --user needs --password-file\n", "--user", "admin", "describe-stacks",
              NULL);
        as_user = "admin";
        fails(2,
              "strata: --prefix 'x/': expected a key prefix starting with '/', without a "
              "trailing '/' or '//'\n",
              "--prefix", "x/", "describe-stacks", NULL);

        {
                _cleanup_free_ char *out = NULL, *err = NULL;

                ck_assert_int_eq(strata(&out, &err, "create-layer", "--help", NULL), 0);
                ck_assert_str_eq(err, "");
                ck_assert_ptr_nonnull(strstr(out, "Usage: strata [GLOBAL OPTIONS] create-layer "
                                                  "[OPTIONS]\n"));
                ck_assert_ptr_nonnull(strstr(out, "  --stack-id ID"));
                ck_assert_ptr_nonnull(strstr(out, "(required)"));
        }
}
END_TEST

START_TEST(stack_round_trip) {
        _cleanup_free_ char *id = NULL, *k = NULL, *created = NULL, *want = NULL, *msg = NULL;
        _cleanup_json_ json_object *o = NULL, *o2 = NULL, *all = NULL;

        id = id_of(ok("create-stack", "--name", "web", "--region", "eu-west-1", "--default-os",
                      "debian-12", "--custom-json", "{\"app\":{\"port\":80}}",
                      "--custom-cookbooks-source",
                      "{\"Type\":\"git\",\"Url\":\"https://git.example/cb.git\","
                      "\"Revision\":\"main\",\"SshKey\":\"KEY\"}",
                      "--use-custom-cookbooks", NULL),
                   "StackId");
        k = key("stacks/%s", id);
        created = stored_field(k, "created_at");
        /* Stored as the agent reads it; slashes are not escaped. */
        want = strf("{\"name\":\"web\",\"region\":\"eu-west-1\",\"default_os\":\"debian-12\","
                    "\"custom_json\":{\"app\":{\"port\":80}},\"custom_cookbooks_source\":{"
                    "\"type\":\"git\",\"url\":\"https://git.example/cb.git\",\"revision\":"
                    "\"main\",\"ssh_key\":\"KEY\"},\"use_custom_cookbooks\":true,\"id\":\"%s\","
                    "\"created_at\":\"%s\"}",
                    id, created);
        assert_stored(k, want);

        o = ok("describe-stacks", "--stack-ids", id, NULL);
        free(want);
        want = strf("{\"Stacks\": [{\"StackId\": \"%s\", \"Name\": \"web\", \"Region\": "
                    "\"eu-west-1\", \"DefaultOs\": \"debian-12\", \"CustomJson\": "
                    "\"{\\\"app\\\":{\\\"port\\\":80}}\", \"CustomCookbooksSource\": {\"Type\": "
                    "\"git\", \"Url\": \"https://git.example/cb.git\", \"Revision\": \"main\", "
                    "\"SshKey\": \"*****FILTERED*****\"}, \"UseCustomCookbooks\": true, "
                    "\"CreatedAt\": \"%s\"}]}",
                    id, created);
        assert_json(o, want);

        ck_assert_ptr_null(ok("update-stack", "--stack-id", id, "--name", "web2",
                              "--no-use-custom-cookbooks", "--custom-json", "{}", NULL));
        o2 = ok("describe-stacks", NULL);
        free(want);
        want = strf("{\"Stacks\": [{\"StackId\": \"%s\", \"Name\": \"web2\", \"Region\": "
                    "\"eu-west-1\", \"DefaultOs\": \"debian-12\", \"CustomJson\": \"{}\", "
                    "\"CustomCookbooksSource\": {\"Type\": \"git\", \"Url\": "
                    "\"https://git.example/cb.git\", \"Revision\": \"main\", \"SshKey\": "
                    "\"*****FILTERED*****\"}, \"UseCustomCookbooks\": false, \"CreatedAt\": "
                    "\"%s\"}]}",
                    id, created);
        assert_json(o2, want);

        ck_assert_ptr_null(ok("delete-stack", "--stack-id", id, NULL));
        all = ok("describe-stacks", NULL);
        assert_json(all, "{\"Stacks\": []}");
        msg = strf("strata: stack '%s' does not exist\n", id);
        fails(1, msg, "describe-stacks", "--stack-ids", id, NULL);
        fails(1, msg, "update-stack", "--stack-id", id, "--name", "x", NULL);
}
END_TEST

START_TEST(layer_and_app_round_trips) {
        _cleanup_free_ char *stack = NULL, *layer = NULL, *app = NULL, *lk = NULL, *ak = NULL,
                            *lcreated = NULL, *acreated = NULL, *want = NULL, *msg = NULL;
        _cleanup_json_ json_object *o = NULL, *o2 = NULL, *o3 = NULL, *o4 = NULL;

        stack = id_of(ok("create-stack", "--name", "s", NULL), "StackId");
        layer = id_of(ok("create-layer", "--stack-id", stack, "--name", "Web servers",
                         "--shortname", "web", "--custom-recipes",
                         "{\"Setup\":[\"nginx::install\"],\"Deploy\":[\"app::deploy\"]}",
                         "--packages", "nginx", "git", "--no-enable-auto-healing", "--custom-json",
                         "{\"nginx\":{\"workers\":4}}", "--lifecycle-event-configuration",
                         "{\"Shutdown\":{\"ExecutionTimeout\":300}}", NULL),
                      "LayerId");
        lk = key("stacks/%s/layers/%s", stack, layer);
        lcreated = stored_field(lk, "created_at");
        /* "type" is filled in last: by default, when no option gave it. */
        want = strf("{\"name\":\"Web servers\",\"shortname\":\"web\",\"recipes\":{\"setup\":["
                    "\"nginx::install\"],\"deploy\":[\"app::deploy\"],\"configure\":[],"
                    "\"undeploy\":[],\"shutdown\":[]},\"packages\":[\"nginx\",\"git\"],"
                    "\"auto_healing\":false,\"custom_json\":{\"nginx\":{\"workers\":4}},"
                    "\"shutdown_timeout\":300,\"id\":\"%s\",\"stack_id\":\"%s\",\"type\":"
                    "\"custom\",\"created_at\":\"%s\"}",
                    layer, stack, lcreated);
        assert_stored(lk, want);

        o = ok("describe-layers", "--stack-id", stack, NULL);
        free(want);
        want = strf("{\"Layers\": [{\"LayerId\": \"%s\", \"StackId\": \"%s\", \"Type\": "
                    "\"custom\", \"Name\": \"Web servers\", \"Shortname\": \"web\", "
                    "\"CustomRecipes\": {\"Setup\": [\"nginx::install\"], \"Configure\": [], "
                    "\"Deploy\": [\"app::deploy\"], \"Undeploy\": [], \"Shutdown\": []}, "
                    "\"Packages\": [\"nginx\", \"git\"], \"EnableAutoHealing\": false, "
                    "\"CustomJson\": \"{\\\"nginx\\\":{\\\"workers\\\":4}}\", "
                    "\"LifecycleEventConfiguration\": {\"Shutdown\": {\"ExecutionTimeout\": "
                    "300}}, \"CreatedAt\": \"%s\"}]}",
                    layer, stack, lcreated);
        assert_json(o, want);

        /* A second layer may not take the shortname. */
        msg = strf("strata: create-layer: --shortname 'web': layer '%s' of stack '%s' has it "
                   "already\n",
                   layer, stack);
        fails(1, msg, "create-layer", "--stack-id", stack, "--name", "x", "--shortname", "web",
              NULL);

        ck_assert_ptr_null(ok("update-layer", "--layer-id", layer, "--packages", "nginx-light",
                              "--enable-auto-healing", NULL));
        o2 = ok("describe-layers", "--layer-ids", layer, NULL);
        ck_assert_str_eq(
                json_object_to_json_string_ext(
                        json_object_object_get(
                                json_object_array_get_idx(json_object_object_get(o2, "Layers"), 0),
                                "Packages"),
                        JSON_C_TO_STRING_PLAIN),
                "[\"nginx-light\"]");

        app = id_of(ok("create-app", "--stack-id", stack, "--name", "Shop Front", "--type",
                       "static", "--app-source",
                       "{\"Type\":\"archive\",\"Url\":\"http://files/shop.tgz\","
                       "\"Password\":\"pw\"}",
                       "--domains", "shop.example", "www.shop.example", "--environment",
                       "[{\"Key\":\"MODE\",\"Value\":\"prod\"},{\"Key\":\"TOKEN\",\"Value\":"
                       "\"t0k\",\"Secure\":true}]",
                       "--attributes", "{\"DocumentRoot\":\"public\"}", NULL),
                    "AppId");
        ak = key("stacks/%s/apps/%s", stack, app);
        acreated = stored_field(ak, "created_at");
        free(want);
        want = strf("{\"name\":\"Shop Front\",\"type\":\"static\",\"source\":{\"type\":"
                    "\"archive\",\"url\":\"http://files/shop.tgz\",\"password\":\"pw\"},"
                    "\"domains\":[\"shop.example\",\"www.shop.example\"],\"environment\":{"
                    "\"MODE\":\"prod\",\"TOKEN\":\"t0k\"},\"secure_environment\":[\"TOKEN\"],"
                    "\"document_root\":\"public\",\"attributes\":{},\"shortname\":"
                    "\"shop_front\",\"id\":\"%s\",\"stack_id\":\"%s\",\"created_at\":\"%s\"}",
                    app, stack, acreated);
        assert_stored(ak, want);

        o3 = ok("describe-apps", "--app-ids", app, NULL);
        free(want);
        want = strf("{\"Apps\": [{\"AppId\": \"%s\", \"StackId\": \"%s\", \"Shortname\": "
                    "\"shop_front\", \"Name\": \"Shop Front\", \"Type\": \"static\", "
                    "\"AppSource\": {\"Type\": \"archive\", \"Url\": \"http://files/shop.tgz\", "
                    "\"Password\": \"*****FILTERED*****\"}, \"Domains\": [\"shop.example\", "
                    "\"www.shop.example\"], \"Environment\": [{\"Key\": \"MODE\", \"Value\": "
                    "\"prod\", \"Secure\": false}, {\"Key\": \"TOKEN\", \"Value\": "
                    "\"*****FILTERED*****\", \"Secure\": true}], \"Attributes\": "
                    "{\"DocumentRoot\": \"public\"}, \"CreatedAt\": \"%s\"}]}",
                    app, stack, acreated);
        assert_json(o3, want);

        ck_assert_ptr_null(ok("update-app", "--app-id", app, "--shortname", "shop", NULL));
        o4 = ok("describe-apps", "--stack-id", stack, NULL);
        ck_assert_str_eq(
                json_get_string(json_object_array_get_idx(json_object_object_get(o4, "Apps"), 0),
                                "Shortname"),
                "shop");

        ck_assert_ptr_null(ok("delete-app", "--app-id", app, NULL));
        ck_assert_ptr_null(ok("delete-layer", "--layer-id", layer, NULL));
        free(msg);
        msg = strf("strata: app '%s' does not exist\n", app);
        fails(1, msg, "delete-app", "--app-id", app, NULL);
        free(msg);
        msg = strf("strata: layer '%s' does not exist\n", layer);
        fails(1, msg, "describe-layers", "--layer-ids", layer, NULL);
}
END_TEST

START_TEST(delete_refused_while_instances_or_apps_exist) {
        _cleanup_free_ char *stack = NULL, *layer = NULL, *instance = NULL, *app = NULL,
                            *msg = NULL, *keys = NULL, *p = NULL;

        stack = id_of(ok("create-stack", "--name", "s", NULL), "StackId");
        layer = id_of(
                ok("create-layer", "--stack-id", stack, "--name", "L", "--shortname", "l", NULL),
                "LayerId");
        instance = id_of(ok("create-instance", "--stack-id", stack, "--layer-ids", layer,
                            "--hostname", "web1", NULL),
                         "InstanceId");
        app = id_of(ok("create-app", "--stack-id", stack, "--name", "a", "--type", "other", NULL),
                    "AppId");

        msg = strf("strata: delete-stack: stack '%s' still has 1 instance and 1 app: deregister "
                   "the instances and delete the apps first\n",
                   stack);
        fails(1, msg, "delete-stack", "--stack-id", stack, NULL);
        free(msg);
        msg = strf("strata: delete-layer: layer '%s' still has instances (%s): deregister them "
                   "or take them out of the layer first\n",
                   layer, instance);
        fails(1, msg, "delete-layer", "--layer-id", layer, NULL);

        ck_assert_ptr_null(ok("delete-app", "--app-id", app, NULL));
        ck_assert_ptr_null(ok("deregister-instance", "--instance-id", instance, NULL));
        ck_assert_ptr_null(ok("delete-stack", "--stack-id", stack, NULL));
        p = key("stacks/");
        keys = test_etcd_keys(etcd, admin_token, p);
        ck_assert_str_eq(keys, "");
}
END_TEST

START_TEST(clone_stack_copies_layers_apps_and_custom_json) {
        _cleanup_free_ char *stack = NULL, *l1 = NULL, *l2 = NULL, *app = NULL, *clone = NULL,
                            *p = NULL;
        _cleanup_json_ json_object *stacks = NULL, *layers = NULL, *apps = NULL, *instances = NULL;
        json_object *a;

        stack = id_of(
                ok("create-stack", "--name", "prod", "--custom-json", "{\"tier\":\"prod\"}", NULL),
                "StackId");
        l1 = id_of(ok("create-layer", "--stack-id", stack, "--name", "Web", "--shortname", "web",
                      "--packages", "nginx", NULL),
                   "LayerId");
        l2 = id_of(
                ok("create-layer", "--stack-id", stack, "--name", "DB", "--shortname", "db", NULL),
                "LayerId");
        app = id_of(
                ok("create-app", "--stack-id", stack, "--name", "shop", "--type", "static", NULL),
                "AppId");
        json_object_put(ok("create-instance", "--stack-id", stack, "--layer-ids", l1, NULL));

        clone = id_of(ok("clone-stack", "--source-stack-id", stack, NULL), "StackId");
        ck_assert_str_ne(clone, stack);
        stacks = ok("describe-stacks", "--stack-ids", clone, NULL);
        a = json_object_array_get_idx(json_object_object_get(stacks, "Stacks"), 0);
        ck_assert_str_eq(json_get_string(a, "Name"), "Copy of prod");
        ck_assert_str_eq(json_get_string(a, "CustomJson"), "{\"tier\":\"prod\"}");

        layers = ok("describe-layers", "--stack-id", clone, NULL);
        a = json_object_object_get(layers, "Layers");
        ck_assert_uint_eq(json_object_array_length(a), 2);
        for (size_t i = 0; i < 2; i++) {
                json_object *l = json_object_array_get_idx(a, i);

                ck_assert_str_eq(json_get_string(l, "StackId"), clone);
                ck_assert_str_ne(json_get_string(l, "LayerId"), l1);
                ck_assert_str_ne(json_get_string(l, "LayerId"), l2);
                ck_assert(STR_IN_SET(json_get_string(l, "Shortname"), "web", "db"));
        }

        apps = ok("describe-apps", "--stack-id", clone, NULL);
        a = json_object_object_get(apps, "Apps");
        ck_assert_uint_eq(json_object_array_length(a), 1);
        ck_assert_str_eq(json_get_string(json_object_array_get_idx(a, 0), "Shortname"), "shop");
        ck_assert_str_ne(json_get_string(json_object_array_get_idx(a, 0), "AppId"), app);

        instances = ok("describe-instances", "--stack-id", clone, NULL);
        assert_json(instances, "{\"Instances\": []}");
        p = key("stacks/%s/instances/", clone);
        {
                _cleanup_free_ char *keys = test_etcd_keys(etcd, admin_token, p);

                ck_assert_str_eq(keys, "");
        }
}
END_TEST

/* A gateway call with a token: the HTTP status and, past 200, the body. */
static long post_as(const char *token, const char *path, json_object *req, char **ret_body) {
        long status;

        ck_assert_ptr_nonnull(req);
        status = test_etcd_post(etcd, path,
                                json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN), token,
                                ret_body);
        json_object_put(req);
        return status;
}

static long put_as(const char *token, const char *k, const char *value, char **ret_body) {
        json_object *req = NULL;

        ck_assert_int_eq(etcd_request_put(k, value, strlen(value), 0, &req), 0);
        return post_as(token, ETCD_PATH_PUT, req, ret_body);
}

/* A range of k, or of every key below it when k ends in '/'. */
static long get_as(const char *token, const char *k, char **ret_body) {
        json_object *req = NULL;

        ck_assert_int_eq(
                etcd_request_range(k, endswith(k, "/") ? ETCD_RANGE_PREFIX : 0, 0, 0, &req), 0);
        return post_as(token, ETCD_PATH_RANGE, req, ret_body);
}

/* The status of a get of key_taken, or of a put of "{}" there, as token's user. */
static long access_as(const char *token, bool put, char *key_taken) {
        _cleanup_free_ char *k = key_taken, *body = NULL;

        return put ? put_as(token, k, "{}", &body) : get_as(token, k, &body);
}

START_TEST(register_instance_makes_credentials_limited_to_it) {
        _cleanup_free_ char *stack = NULL, *other_stack = NULL, *layer = NULL, *config = NULL,
                            *password_file = NULL, *instance = NULL, *yaml = NULL, *want = NULL,
                            *password = NULL, *token = NULL, *user = NULL, *body = NULL, *k = NULL,
                            *msg = NULL, *other = NULL;
        _cleanup_json_ json_object *described = NULL;
        json_object *inst;
        struct stat st;
        const char *bin = getenv("STRATA_AGENT");
        pid_t pid;
        int status;

        stack = id_of(ok("create-stack", "--name", "s", NULL), "StackId");
        other_stack = id_of(ok("create-stack", "--name", "other", NULL), "StackId");
        layer = id_of(
                ok("create-layer", "--stack-id", stack, "--name", "L", "--shortname", "l", NULL),
                "LayerId");
        config = path_in("etc/agent.yaml");
        password_file = path_in("etc/etcd-password");
        {
                _cleanup_free_ char *etc = path_in("etc");

                ck_assert_int_eq(mkdir(etc, 0755), 0);
        }

        instance = id_of(ok("register-instance", "--stack-id", stack, "--hostname", "web1",
                            "--layer-ids", layer, "--output-config", config, NULL),
                         "InstanceId");
        user = strf("instance-%s", instance);

        /* The config names everything the agent needs, the password only by file. */
        yaml = test_read(config);
        want = strf("# strata-agent configuration of instance %1$s in stack %2$s, written by "
                    "strata register-instance.\n"
                    "instance_id: \"%1$s\"\n"
                    "stack_id: \"%2$s\"\n"
                    "control_plane:\n"
                    "  type: etcd\n"
                    "  endpoints: [\"%3$s\"]\n"
                    "  prefix: \"%4$s\"\n"
                    "  username: \"instance-%1$s\"\n"
                    "  password_file: \"%5$s\"\n",
                    instance, stack, etcd->endpoint, prefix, password_file);
        ck_assert_str_eq(yaml, want);
        ck_assert_int_eq(stat(password_file, &st), 0);
        ck_assert_int_eq(st.st_mode & 07777, 0600);
        ck_assert_int_eq(st.st_uid, 0);
        password = test_read(password_file);
        ck_assert_uint_eq(strlen(password), 43);

        /* strata-agent accepts it. */
        ck_assert_msg(bin, "STRATA_AGENT is not set (run through meson test)");
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

                if (null < 0 || dup2(null, 1) < 0)
                        _exit(126);
                execl(bin, bin, "--check-config", "--config", config, (char *)NULL);
                _exit(127);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "strata-agent --check-config --config %s failed", config);

        described = ok("describe-instances", "--instance-ids", instance, NULL);
        inst = json_object_array_get_idx(json_object_object_get(described, "Instances"), 0);
        ck_assert_str_eq(json_get_string(inst, "Status"), "registered");
        ck_assert_str_eq(json_get_string(inst, "Hostname"), "web1");

        /* The instance's own credentials: its stack readable, its prefix writable, nothing
         * else. */
        token = test_etcd_token(etcd, user, password);
        k = key("stacks/%s", stack);
        ck_assert_int_eq(get_as(token, k, &body), 200);
        ck_assert_ptr_nonnull(strstr(body, "\"count\":\"1\""));
        body = mfree(body);
        free(k);
        k = key("stacks/%s/layers/", stack);
        ck_assert_int_eq(get_as(token, k, &body), 200);
        body = mfree(body);
        free(k);
        k = key("instances/%s/alive", instance);
        ck_assert_int_eq(put_as(token, k, "{\"status\":\"idle\"}", &body), 200);
        body = mfree(body);

        other = id_of(ok("create-instance", "--stack-id", stack, "--layer-ids", layer, NULL),
                      "InstanceId");
        free(k);
        k = key("instances/%s/commands/x", other);
        ck_assert_int_eq(put_as(token, k, "{}", &body), 403);
        ck_assert_str_eq(body, "{\"error\":\"etcdserver: permission denied\",\"message\":"
                               "\"etcdserver: permission denied\",\"code\":7}");
        body = mfree(body);
        ck_assert_int_eq(access_as(token, false, key("instances/%s/", other)), 403);
        ck_assert_int_eq(access_as(token, false, key("stacks/%s", other_stack)), 403);
        ck_assert_int_eq(access_as(token, true, key("stacks/%s", stack)), 403);
        /* In the stack, its own online mark and nothing else. */
        ck_assert_int_eq(access_as(token, true, key("stacks/%s/online/%s", stack, instance)), 200);
        ck_assert_int_eq(access_as(token, true, key("stacks/%s/online/%s", stack, other)), 403);
        ck_assert_int_eq(
                access_as(token, true, key("stacks/%s/instances/%s", stack, instance)), 403);

        /* Through the CLI, with the instance's own files. */
        as_user = user;
        as_password_file = password_file;
        json_object_put(ok("describe-stacks", "--stack-ids", stack, NULL));
        fails(1, "strata: permission denied (etcd: etcdserver: permission denied)\n",
              "update-stack", "--stack-id", stack, "--name", "mine", NULL);
        fails(1, "strata: permission denied (etcd: etcdserver: permission denied)\n",
              "describe-commands", "--instance-id", other, NULL);
        as_user = "admin";
        as_password_file = admin_password_file;

        /* Online while its alive key is there. */
        json_object_put(described);
        described = ok("describe-instances", "--stack-id", stack, NULL);
        inst = NULL;
        for (size_t i = 0; i < 2; i++) {
                json_object *e = json_object_array_get_idx(
                        json_object_object_get(described, "Instances"), i);
                bool mine = streq(json_get_string(e, "InstanceId"), instance);

                /* Made in the same second, the two sort by their random part. */
                ck_assert_str_eq(json_get_string(e, "Status"), mine ? "online" : "stopped");
                inst = mine ? e : inst;
        }
        ck_assert_ptr_nonnull(inst);

        /* Deregistered: record, keys, user and role gone. */
        ck_assert_ptr_null(ok("deregister-instance", "--instance-id", instance, NULL));
        free(k);
        k = key("instances/%s/", instance);
        {
                _cleanup_free_ char *keys = test_etcd_keys(etcd, admin_token, k);

                ck_assert_str_eq(keys, "");
        }
        free(k);
        k = key("stacks/%s/instances/%s", stack, instance);
        ck_assert_ptr_null(test_etcd_get(etcd, admin_token, k));
        free(k);
        k = key("stacks/%s/online/%s", stack, instance);
        ck_assert_ptr_null(test_etcd_get(etcd, admin_token, k));
        {
                json_object *req = NULL;

                ck_assert_int_eq(etcd_request_authenticate(user, password, &req), 0);
                ck_assert_int_eq(post_as(NULL, ETCD_PATH_AUTHENTICATE, req, &body), 400);
                ck_assert_ptr_nonnull(strstr(body, "authentication failed"));
                body = mfree(body);
                ck_assert_int_eq(etcd_request_name(user, &req), 0);
                ck_assert_int_eq(post_as(admin_token, ETCD_PATH_ROLE_GET, req, &body), 412);
                ck_assert_ptr_nonnull(strstr(body, "role name not found"));
        }
        msg = strf("strata: instance '%s' does not exist\n", instance);
        fails(1, msg, "deregister-instance", "--instance-id", instance, NULL);
}
END_TEST

/* Marks an instance online the way its agent does: an alive key. */
static void set_online(const char *instance) {
        _cleanup_free_ char *k = key("instances/%s/alive", instance);

        test_etcd_put(etcd, admin_token, k, "{\"status\":\"idle\",\"agent_version\":\"0.1.0\"}");
}

/* The command ids of a deployment, by instance. */
static json_object *deployment_commands(const char *stack, const char *deployment) {
        _cleanup_free_ char *k = key("stacks/%s/deployments/%s", stack, deployment), *v = NULL;
        _cleanup_json_ json_object *d = NULL;

        v = stored(k);
        d = parse(v);
        return json_object_get(json_object_object_get(d, "commands"));
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *sorted_keys(json_object *o) {
        _cleanup_strv_free_ char **l = NULL;

        json_object_object_foreach (o, k, v) {
                (void)v;
                ck_assert_int_ge(strv_extend(&l, k), 0);
        }
        qsort(l, strv_length(l), sizeof(char *), cmp_str);
        {
                char *s = strv_join(l, ",");

                ck_assert_ptr_nonnull(s);
                return s;
        }
}

static char *joined_sorted(const char *a, const char *b) {
        const char *l[2] = {a, b};

        if (!b)
                return strdup(a);
        qsort(l, 2, sizeof(char *), cmp_str);
        return strf("%s,%s", l[0], l[1]);
}

static void put_result(const char *instance, const char *cmd, const char *status,
                       const char *finished) {
        _cleanup_free_ char *k = key("instances/%s/results/%s", instance, cmd),
                            *v = strf("{\"id\":\"%s\",\"type\":\"configure\",\"status\":\"%s\","
                                      "\"exit_reason\":\"completed\",\"started_at\":"
                                      "\"2026-11-25T12:00:00.000Z\",\"finished_at\":\"%s\"}",
                                      cmd, status, finished);

        test_etcd_put(etcd, admin_token, k, v);
}

START_TEST(deployments_target_and_aggregate) {
        _cleanup_free_ char *stack = NULL, *l1 = NULL, *l2 = NULL, *i1 = NULL, *i2 = NULL,
                            *i3 = NULL, *d1 = NULL, *d2 = NULL, *d3 = NULL, *t = NULL, *want = NULL,
                            *k = NULL, *cmd = NULL, *created = NULL, *out = NULL, *err = NULL,
                            *app = NULL;
        _cleanup_json_ json_object *c1 = NULL, *c2 = NULL, *c3 = NULL, *o = NULL, *cmds = NULL,
                                   *all = NULL;
        json_object *d;

        stack = id_of(ok("create-stack", "--name", "s", NULL), "StackId");
        l1 = id_of(ok("create-layer", "--stack-id", stack, "--name", "A", "--shortname", "a", NULL),
                   "LayerId");
        l2 = id_of(ok("create-layer", "--stack-id", stack, "--name", "B", "--shortname", "b", NULL),
                   "LayerId");
        app = id_of(
                ok("create-app", "--stack-id", stack, "--name", "shop", "--type", "static", NULL),
                "AppId");
        i1 = id_of(ok("create-instance", "--stack-id", stack, "--layer-ids", l1, NULL),
                   "InstanceId");
        i2 = id_of(ok("create-instance", "--stack-id", stack, "--layer-ids", l1, l2, NULL),
                   "InstanceId");
        i3 = id_of(ok("create-instance", "--stack-id", stack, "--layer-ids", l2, NULL),
                   "InstanceId");

        {
                _cleanup_free_ char *msg = strf("strata: create-deployment: no online instance in "
                                                "any layer of stack '%s' (name them with "
                                                "--instance-ids to queue commands for them)\n",
                                                stack);

                fails(1, msg, "create-deployment", "--stack-id", stack, "--command",
                      "{\"Name\":\"configure\"}", NULL);
        }
        set_online(i1);
        set_online(i2);

        /* Default: every online instance. */
        d1 = id_of(ok("create-deployment", "--stack-id", stack, "--command",
                      "{\"Name\":\"deploy\",\"Args\":{\"migrate\":[\"true\"]}}", "--app-id", app,
                      "--custom-json", "{\"x\":1}", "--comment", "release 7", NULL),
                   "DeploymentId");
        c1 = deployment_commands(stack, d1);
        t = sorted_keys(c1);
        want = joined_sorted(i1, i2);
        ck_assert_str_eq(t, want);

        /* The command each target got, in the agent's format. */
        k = key("instances/%s/commands/%s", i1, json_get_string(c1, i1));
        created = stored_field(k, "created_at");
        cmd = strf("{\"id\":\"%s\",\"type\":\"deploy\",\"args\":{\"migrate\":[\"true\"],"
                   "\"app_ids\":[\"shop\"]},\"custom_json\":{\"x\":1},\"comment\":"
                   "\"release 7\",\"created_at\":\"%s\",\"deployment_id\":\"%s\"}",
                   json_get_string(c1, i1), created, d1);
        assert_stored(k, cmd);

        /* Layers: only their online instances (i3 is not). */
        d2 = id_of(ok("create-deployment", "--stack-id", stack, "--layer-ids", l2, "--command",
                      "{\"Name\":\"configure\"}", NULL),
                   "DeploymentId");
        c2 = deployment_commands(stack, d2);
        free(t);
        t = sorted_keys(c2);
        ck_assert_str_eq(t, i2);

        /* Named instances, online or not. */
        d3 = id_of(ok("create-deployment", "--stack-id", stack, "--instance-ids", i3, "--command",
                      "{\"Name\":\"execute_recipes\",\"Args\":{\"recipes\":"
                      "[\"cb::r\"]}}",
                      NULL),
                   "DeploymentId");
        c3 = deployment_commands(stack, d3);
        free(t);
        t = sorted_keys(c3);
        ck_assert_str_eq(t, i3);

        /* Status from the results. */
        o = ok("describe-deployments", "--deployment-ids", d1, NULL);
        d = json_object_array_get_idx(json_object_object_get(o, "Deployments"), 0);
        ck_assert_str_eq(json_get_string(d, "Status"), "running");
        ck_assert_ptr_null(json_object_object_get(d, "CompletedAt"));
        ck_assert_str_eq(json_get_string(d, "AppId"), app);
        ck_assert_str_eq(json_get_string(d, "Comment"), "release 7");
        ck_assert_str_eq(json_get_string(d, "CustomJson"), "{\"x\":1}");
        json_object_put(TAKE_PTR(o));

        put_result(i1, json_get_string(c1, i1), "successful", "2026-11-25T12:00:05.000Z");
        o = ok("describe-deployments", "--deployment-ids", d1, NULL);
        d = json_object_array_get_idx(json_object_object_get(o, "Deployments"), 0);
        ck_assert_str_eq(json_get_string(d, "Status"), "running");
        json_object_put(TAKE_PTR(o));

        put_result(i2, json_get_string(c1, i2), "failed", "2026-11-25T12:00:09.000Z");
        put_result(i2, json_get_string(c2, i2), "successful", "2026-11-25T12:01:00.000Z");
        o = ok("describe-deployments", "--deployment-ids", d1, d2, NULL);
        d = json_object_array_get_idx(json_object_object_get(o, "Deployments"), 0);
        ck_assert_str_eq(json_get_string(d, "Status"), "failed");
        ck_assert_str_eq(json_get_string(d, "CompletedAt"), "2026-11-25T12:00:09.000Z");
        d = json_object_array_get_idx(json_object_object_get(o, "Deployments"), 1);
        ck_assert_str_eq(json_get_string(d, "Status"), "successful");
        ck_assert_str_eq(json_get_string(d, "CompletedAt"), "2026-11-25T12:01:00.000Z");
        json_object_put(TAKE_PTR(o));

        all = ok("describe-deployments", "--stack-id", stack, NULL);
        ck_assert_uint_eq(json_object_array_length(json_object_object_get(all, "Deployments")), 3);

        /* Commands of a deployment, and a log. */
        cmds = ok("describe-commands", "--deployment-id", d1, NULL);
        d = json_object_object_get(cmds, "Commands");
        ck_assert_uint_eq(json_object_array_length(d), 2);
        for (size_t i = 0; i < 2; i++) {
                json_object *c = json_object_array_get_idx(d, i);
                const char *inst = json_get_string(c, "InstanceId");

                ck_assert_str_eq(json_get_string(c, "DeploymentId"), d1);
                ck_assert_str_eq(json_get_string(c, "Type"), "deploy");
                ck_assert_str_eq(json_get_string(c, "Status"),
                                 streq(inst, i1) ? "successful" : "failed");
        }
        free(k);
        k = key("instances/%s/logs/%s", i2, json_get_string(c1, i2));
        test_etcd_put(etcd, admin_token, k, "step 1\nstep 2 failed\n");
        ck_assert_int_eq(strata(&out, &err, "describe-commands", "--command-ids",
                                json_get_string(c1, i2), "--log", NULL),
                         0);
        ck_assert_str_eq(err, "");
        ck_assert_str_eq(out, "step 1\nstep 2 failed\n");
}
END_TEST

#define MANY 20

static TestEtcd *shared_etcd;
static char *shared_token;

/* The suite's etcd is set aside for a fresh one, set up by init as the suite's is, that takes at
 * most max_txn_ops operations in a transaction; private_etcd_end() brings the suite's back. */
static void private_etcd_begin(unsigned max_txn_ops) {
        _cleanup_free_ char *out = NULL, *err = NULL;
        int r;

        shared_etcd = etcd;
        shared_token = TAKE_PTR(admin_token);
        etcd = test_etcd_start_max_txn_ops(max_txn_ops);
        as_user = NULL;
        r = strata(&out, &err, "init", "--admin-password-file", admin_password_file, NULL);
        ck_assert_msg(r == 0, "init: exit %d: %s", r, err);
        as_user = "admin";
        admin_token = test_etcd_token(etcd, "admin", ADMIN_PASSWORD);
}

static void private_etcd_end(void) {
        test_etcd_free(etcd);
        etcd = TAKE_PTR(shared_etcd);
        free(admin_token);
        admin_token = TAKE_PTR(shared_token);
}

/* A stack "big" with MANY online instances in one layer, in key order in *ret_instances. */
static char *stack_of_many(char ***ret_instances) {
        _cleanup_free_ char *layer = NULL, *first = NULL;
        _cleanup_strv_free_ char **instances = NULL;
        _cleanup_json_ json_object *record = NULL;
        char *stack;

        stack = id_of(ok("create-stack", "--name", "big", NULL), "StackId");
        layer = id_of(
                ok("create-layer", "--stack-id", stack, "--name", "A", "--shortname", "a", NULL),
                "LayerId");
        first = id_of(ok("create-instance", "--stack-id", stack, "--layer-ids", layer, NULL),
                      "InstanceId");
        {
                _cleanup_free_ char *k = key("stacks/%s/instances/%s", stack, first);
                _cleanup_free_ char *v = stored(k);

                record = parse(v);
        }
        ck_assert_int_ge(strv_extend(&instances, first), 0);
        /* The others as copies of the first record. */
        for (unsigned i = 1; i < MANY; i++) {
                _cleanup_free_ char *id = strf("%s-%02u", first, i), *k = NULL;

                ck_assert_ptr_nonnull(id);
                k = key("stacks/%s/instances/%s", stack, id);
                json_object_object_add(record, "id", json_object_new_string(id));
                test_etcd_put(etcd, admin_token, k,
                              json_object_to_json_string_ext(record, JSON_C_TO_STRING_PLAIN));
                ck_assert_int_ge(strv_extend(&instances, id), 0);
        }
        for (char **i = instances; *i; i++)
                set_online(*i);
        *ret_instances = TAKE_PTR(instances);
        return stack;
}

/* On an etcd that takes at most 16 operations in a transaction, a deployment to 20 instances
 * still queues one command for each, and the record names them all. */
START_TEST(deployment_over_max_txn_ops) {
        _cleanup_free_ char *stack = NULL, *d = NULL;
        _cleanup_strv_free_ char **instances = NULL;
        _cleanup_json_ json_object *cmds = NULL;

        private_etcd_begin(16);
        stack = stack_of_many(&instances);
        d = id_of(ok("create-deployment", "--stack-id", stack, "--command",
                     "{\"Name\":\"configure\"}", NULL),
                  "DeploymentId");
        cmds = deployment_commands(stack, d);
        ck_assert_uint_eq(json_object_object_length(cmds), MANY);
        for (char **i = instances; *i; i++) {
                _cleanup_free_ char *p = key("instances/%s/commands/", *i), *keys = NULL,
                                    *want = NULL, *dep = NULL;
                const char *cmd = json_get_string(cmds, *i);

                ck_assert_msg(cmd, "no command for %s", *i);
                keys = test_etcd_keys(etcd, admin_token, p);
                want = strf("%s%s", p, cmd);
                ck_assert_str_eq(keys, want);
                dep = stored_field(want, "deployment_id");
                ck_assert_str_eq(dep, d);
        }
        private_etcd_end();
}
END_TEST

/* POSTs a built request (taken) as admin, asserting success; the parsed reply. */
static json_object *admin_call(const char *path, int r, json_object *req) {
        _cleanup_free_ char *body = NULL, *error = NULL;
        json_object *reply = NULL;
        long status;

        ck_assert_int_eq(r, 0);
        status = post_as(admin_token, path, req, &body);
        ck_assert_msg(etcd_parse_reply(status, body, strlen(body), &reply, &error) >= 0,
                      "POST %s: %s", path, strempty(error));
        return reply;
}

/* The keys below key(rel) at revision (0: now), joined with "\n"; *ret_revision etcd's. */
static char *keys_at(const char *rel, int64_t revision, int64_t *ret_revision) {
        _cleanup_free_ char *p = key("%s", rel), *error = NULL;
        _cleanup_(etcd_range_freep) EtcdRange *range = NULL;
        _cleanup_(strbuf_done) StrBuf b = {};
        _cleanup_json_ json_object *reply = NULL;
        json_object *req = NULL;
        char *s;
        int r = etcd_request_range(p, ETCD_RANGE_PREFIX | ETCD_RANGE_KEYS_ONLY, 0, revision, &req);

        reply = admin_call(ETCD_PATH_RANGE, r, req);
        ck_assert_msg(etcd_parse_range(reply, &range, &error) >= 0, "%s", strempty(error));
        for (size_t i = 0; i < range->n_kvs; i++)
                ck_assert_int_ge(strbuf_printf(&b, "%s%s", i ? "\n" : "", range->kvs[i].key), 0);
        if (ret_revision)
                ck_assert_int_eq(etcd_reply_revision(reply, ret_revision), 0);
        s = strbuf_steal(&b);
        ck_assert_ptr_nonnull(s);
        return s;
}

/* On an etcd that takes at most 16 operations in a transaction, a deployment to MANY instances
 * goes in two: 10 targets (20 would be 21 compares), then 10 more with the record. When the
 * second fails, here because the user may not write the commands of one of its targets, strata
 * exits 1 naming that transaction's targets, and the commands the first wrote are deleted again:
 * etcd holds no command and no deployment record afterwards. */
START_TEST(deployment_later_batch_fails_withdraws_commands) {
        _cleanup_free_ char *stack = NULL, *user = NULL, *password_file = NULL, *deps = NULL;
        _cleanup_free_ char *before = NULL, *after = NULL, *then = NULL, *out = NULL, *err = NULL;
        _cleanup_free_ char *want_err = NULL, *alive = NULL;
        _cleanup_strv_free_ char **instances = NULL, **alive_keys = NULL;
        int64_t revision = 0, now = 0;
        json_object *req = NULL;
        size_t lines = 1;
        int r;

        private_etcd_begin(16);
        stack = stack_of_many(&instances);
        /* A deployer that may read everything and write the commands of every instance but
         * the 18th (in the second transaction), and the deployment records. */
        user = strf("deployer-%d-%u", (int)getpid(), test_counter);
        password_file = path_in("deployer-password");
        ck_assert(user && password_file);
        test_write(password_file, "deployer-secret-1\n");
        r = etcd_request_user_add(user, "deployer-secret-1", &req);
        json_object_put(admin_call(ETCD_PATH_USER_ADD, r, req));
        r = etcd_request_name(user, &req);
        json_object_put(admin_call(ETCD_PATH_ROLE_ADD, r, req));
        {
                _cleanup_free_ char *all = key("%s", ""), *d = key("stacks/%s/deployments/", stack);

                r = etcd_request_role_grant_permission(user, ETCD_PERMISSION_READ, all, true, &req);
                json_object_put(admin_call(ETCD_PATH_ROLE_GRANT_PERMISSION, r, req));
                r = etcd_request_role_grant_permission(user, ETCD_PERMISSION_READWRITE, d, true,
                                                       &req);
                json_object_put(admin_call(ETCD_PATH_ROLE_GRANT_PERMISSION, r, req));
        }
        for (size_t i = 0; i < MANY; i++) {
                _cleanup_free_ char *k = key("instances/%s/", instances[i]);

                if (i == 17)
                        continue;
                r = etcd_request_role_grant_permission(user, ETCD_PERMISSION_READWRITE, k, true,
                                                       &req);
                json_object_put(admin_call(ETCD_PATH_ROLE_GRANT_PERMISSION, r, req));
        }
        r = etcd_request_user_grant_role(user, user, &req);
        json_object_put(admin_call(ETCD_PATH_USER_GRANT_ROLE, r, req));

        for (size_t i = 0; i < MANY; i++)
                ck_assert_int_ge(
                        strv_push(&alive_keys, strf("%s/instances/%s/alive", prefix, instances[i])),
                        0);
        qsort(alive_keys, MANY, sizeof(char *), cmp_str);
        alive = strv_join(alive_keys, "\n");
        ck_assert_ptr_nonnull(alive);
        before = keys_at("instances/", 0, &revision);
        ck_assert_str_eq(before, alive);

        as_user = user;
        as_password_file = password_file;
        r = strata(&out, &err, "create-deployment", "--stack-id", stack, "--command",
                   "{\"Name\":\"configure\"}", NULL);
        as_user = "admin";
        as_password_file = admin_password_file;
        want_err = strf("strata: create-deployment: the commands for targets 11 to 20 of 20 (%s "
                        "to %s) and the deployment record: permission denied (etcd: etcdserver: "
                        "permission denied); the 10 commands already queued were deleted again\n",
                        instances[10], instances[19]);
        ck_assert_msg(r == 1, "exit %d: %s", r, err);
        ck_assert_str_eq(out, "");
        ck_assert_str_eq(err, want_err);

        /* Nothing is left: the instances hold their alive keys only, and no deployment. */
        after = keys_at("instances/", 0, &now);
        ck_assert_str_eq(after, alive);
        {
                _cleanup_free_ char *d = strf("stacks/%s/deployments/", stack);

                ck_assert_ptr_nonnull(d);
                deps = keys_at(d, 0, NULL);
                ck_assert_str_eq(deps, "");
        }

        /* The first transaction did write the commands of the first 10 instances (one revision),
         * and each was deleted (one revision each). */
        ck_assert_int_eq(now, revision + 1 + 10);
        then = keys_at("instances/", revision + 1, NULL);
        for (size_t i = 0; i < MANY; i++) {
                _cleanup_free_ char *c = strf("\n%s/instances/%s/commands/", prefix, instances[i]);
                size_t n = 0;

                ck_assert_ptr_nonnull(c);
                for (const char *p = then; (p = strstr(p, c)); p += strlen(c))
                        n++;
                ck_assert_msg(n == (i < 10 ? 1 : 0), "%zu commands of %s at revision %" PRId64, n,
                              instances[i], revision + 1);
        }
        /* And nothing else: MANY alive keys and those 10 commands. */
        for (const char *p = then; (p = strchr(p, '\n')); p++)
                lines++;
        ck_assert_uint_eq(lines, MANY + 10);
        private_etcd_end();
}
END_TEST

/* Adds the records stored below <prefix>/stacks/<stack>/<dir>/ to doc[name]. */
static void add_records(json_object *doc, const char *stack, const char *dir, const char *name) {
        _cleanup_free_ char *p = key("stacks/%s/%s/", stack, dir);
        _cleanup_free_ char *keys = test_etcd_keys(etcd, admin_token, p);
        json_object *list = json_object_new_array();

        ck_assert_ptr_nonnull(list);
        ck_assert_int_eq(json_object_object_add(doc, name, list), 0);
        for (char *k = keys, *next; k && *k; k = next) {
                _cleanup_free_ char *v = NULL;

                next = strchr(k, '\n');
                if (next)
                        *next++ = 0;
                v = stored(k);
                ck_assert_int_eq(json_object_array_add(list, parse(v)), 0);
        }
}

START_TEST(records_are_what_the_agent_reads) {
        _cleanup_free_ char *stack = NULL, *layer = NULL, *instance = NULL, *k = NULL, *v = NULL,
                            *error = NULL;
        _cleanup_json_ json_object *doc = json_object_new_object(), *norm = NULL;
        json_object *l;

        stack = id_of(ok("create-stack", "--name", "s", "--custom-json", "{\"a\":1}", NULL),
                      "StackId");
        layer = id_of(ok("create-layer", "--stack-id", stack, "--name", "Web", "--shortname",
                         "web", "--custom-recipes", "{\"Configure\":[\"web::conf\"]}",
                         "--packages", "nginx", NULL),
                      "LayerId");
        json_object_put(ok("create-app", "--stack-id", stack, "--name", "shop", "--type", "static",
                           "--app-source", "{\"Type\":\"git\",\"Url\":\"https://g/s.git\"}",
                           "--environment", "[{\"Key\":\"K\",\"Value\":\"V\"}]",
                           "--ssl-configuration", "{\"Certificate\":\"C\",\"PrivateKey\":\"P\"}",
                           NULL));
        instance = id_of(ok("create-instance", "--stack-id", stack, "--layer-ids", layer,
                            "--hostname", "web1", NULL),
                         "InstanceId");
        json_object_put(ok("create-user-profile", "--ssh-username", "ann", "--ssh-public-key",
                           "ssh-ed25519 AAAA ann", NULL));
        ck_assert_ptr_null(ok("set-permission", "--stack-id", stack, "--ssh-username", "ann",
                              "--allow-ssh", "--allow-sudo", NULL));

        k = key("stacks/%s", stack);
        v = stored(k);
        ck_assert_ptr_nonnull(doc);
        ck_assert_int_eq(json_object_object_add(doc, "stack", parse(v)), 0);
        add_records(doc, stack, "layers", "layers");
        add_records(doc, stack, "apps", "apps");
        add_records(doc, stack, "instances", "instances");
        add_records(doc, stack, "users", "users");

        ck_assert_msg(stack_normalize("etcd", doc, instance, stack, &norm, &error) == 0, "%s",
                      strempty(error));
        l = json_object_array_get_idx(json_object_object_get(norm, "layers"), 0);
        ck_assert_str_eq(json_get_string(l, "id"), layer);
        ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(
                                 json_object_object_get(json_object_object_get(l, "recipes"),
                                                        "configure"),
                                 0)),
                         "web::conf");
        ck_assert_uint_eq(json_object_array_length(json_object_object_get(norm, "instances")), 1);
        ck_assert_str_eq(json_get_string(json_object_array_get_idx(
                                                 json_object_object_get(norm, "users"), 0),
                                         "ssh_public_key"),
                         "ssh-ed25519 AAAA ann");
        ck_assert(json_object_get_boolean(json_object_object_get(
                json_object_array_get_idx(json_object_object_get(norm, "users"), 0), "sudo")));
        ck_assert_str_eq(json_get_string(json_object_array_get_idx(
                                                 json_object_object_get(norm, "apps"), 0),
                                         "shortname"),
                         "shop");

        /* The profile goes, and with it the user's place in the stack. */
        ck_assert_ptr_null(ok("delete-user-profile", "--ssh-username", "ann", NULL));
        free(k);
        k = key("stacks/%s/users/ann", stack);
        ck_assert_ptr_null(test_etcd_get(etcd, admin_token, k));
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("strata-cli");
        TCase *tc = tcase_create("cli");

        tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, init_again_changes_nothing);
        tcase_add_test(tc, wrong_password_exits_1);
        tcase_add_test(tc, usage_errors_exit_2);
        tcase_add_test(tc, stack_round_trip);
        tcase_add_test(tc, layer_and_app_round_trips);
        tcase_add_test(tc, delete_refused_while_instances_or_apps_exist);
        tcase_add_test(tc, clone_stack_copies_layers_apps_and_custom_json);
        tcase_add_test(tc, register_instance_makes_credentials_limited_to_it);
        tcase_add_test(tc, deployments_target_and_aggregate);
        tcase_add_test(tc, deployment_over_max_txn_ops);
        tcase_add_test(tc, deployment_later_batch_fails_withdraws_commands);
        tcase_add_test(tc, records_are_what_the_agent_reads);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
