/* SPDX-License-Identifier: MIT */
#include <limits.h>

#include "json-util.h"
#include "stack.h"
#include "str-util.h"
#include "test-helpers.h"
#include "yaml-load.h"

#define SELF "i-1"
#define IDENTIFIER_RULE                                                                            \
        "an identifier of 1 to 64 letters, digits, '.', '_' or '-', not starting with '.' or '-'"

static const char *plain(json_object *o) {
        return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE);
}

static char *hostname(void) {
        char name[HOST_NAME_MAX + 1] = {};

        ck_assert_int_eq(gethostname(name, sizeof(name) - 1), 0);
        return strdup(name);
}

static json_object *load_yaml(const char *yaml) {
        json_object *doc = NULL;
        _cleanup_free_ char *error = NULL;

        ck_assert_msg(yaml_load("stack.yaml", yaml, strlen(yaml), &doc, &error) == 0, "%s",
                      strempty(error));
        return doc;
}

static json_object *normalize_yaml(const char *yaml) {
        _cleanup_json_ json_object *doc = load_yaml(yaml);
        _cleanup_free_ char *error = NULL;
        json_object *s = NULL;

        ck_assert_msg(stack_normalize("stack.yaml", doc, SELF, "st", &s, &error) == 0, "%s",
                      strempty(error));
        ck_assert_ptr_null(error);
        return s;
}

/* Same content, whatever the key order. */
static void assert_json_eq(json_object *got, const char *expected_json) {
        _cleanup_json_ json_object *expected = NULL;

        ck_assert_int_eq(json_parse_strict("expected", expected_json, strlen(expected_json),
                                           &expected, NULL),
                         0);
        ck_assert_msg(json_object_equal(got, expected), "got %s\nexpected %s", plain(got),
                      plain(expected));
}

static void assert_error(const char *yaml, const char *expected) {
        _cleanup_json_ json_object *doc = load_yaml(yaml);
        _cleanup_free_ char *error = NULL;
        json_object *s = (json_object *)1;

        ck_assert_int_eq(stack_normalize("stack.yaml", doc, SELF, "st", &s, &error), -EINVAL);
        ck_assert_ptr_eq(s, (json_object *)1);
        ck_assert_ptr_nonnull(error);
        ck_assert_str_eq(error, expected);
}

START_TEST(test_empty) {
        _cleanup_free_ char *host = hostname(), *expected = NULL;
        _cleanup_json_ json_object *s = NULL, *e = NULL;

        expected = strf("{\"stack\": {\"id\": \"st\", \"name\": \"st\", \"custom_json\": {}}, "
                        "\"layers\": [], \"apps\": [], \"instances\": [{\"id\": \"" SELF "\", "
                        "\"hostname\": \"%s\", \"layer_ids\": [], \"status\": \"online\"}], "
                        "\"users\": []}",
                        host);

        /* No document, an empty YAML file and an empty mapping are all an empty stack. */
        ck_assert_int_eq(stack_normalize(NULL, NULL, SELF, "st", &s, NULL), 0);
        assert_json_eq(s, expected);

        e = load_yaml("");
        ck_assert_ptr_null(e);
        json_object_put(s);
        s = normalize_yaml("{}");
        assert_json_eq(s, expected);
}
END_TEST

static const char *const full_yaml =
        "stack:\n"
        "  name: Production\n"
        "  region: eu-west-1\n"
        "  default_os: debian-12\n"
        "  hostname_theme: planets\n"
        "  custom_json: {db: {host: db1}}\n"
        "  run_as: deploy\n"
        "layers:\n"
        "  - shortname: web\n"
        "    recipes:\n"
        "      setup: [nginx, \"app::setup\"]\n"
        "      deploy: [app::deploy]\n"
        "    packages: [nginx, git]\n"
        "    environment: {PORT: \"8080\"}\n"
        "  - id: l-db\n"
        "    shortname: db\n"
        "    name: Database\n"
        "    auto_healing: false\n"
        "    shutdown_timeout: 30\n"
        "    mounts: [{path: /data, device: /dev/xvdf}]\n"
        "    custom_json: {pg: {version: 15}}\n"
        "    extra: kept\n"
        "apps:\n"
        "  - shortname: site\n"
        "    type: static\n"
        "    source: {type: git, url: \"https://example.com/site.git\", revision: main,\n"
        "             depth: 1}\n"
        "    domains: [example.com]\n"
        "    ssl: {certificate: CERT, key: KEY, chain: CHAIN}\n"
        "    data_sources: [{type: postgres, host: db1}]\n"
        "    document_root: public\n"
        "    attributes: {workers: 4}\n"
        "    keep_releases: 3\n"
        "    restart_command: [systemctl, restart, site]\n"
        "instances:\n"
        "  - id: i-2\n"
        "    layer_ids: [l-db]\n"
        "    private_ip: 10.0.0.2\n"
        "  - id: i-1\n"
        "    hostname: web1\n"
        "    layer_ids: [web, l-db]\n"
        "    status: stopped\n"
        "    os: debian-12\n"
        "    public_ip: 192.0.2.1\n"
        "users:\n"
        "  - name: alice\n"
        "    ssh_public_key: ssh-ed25519 AAAA alice\n"
        "    sudo: true\n"
        "  - name: bob\n"
        "    allow_ssh: false\n";

START_TEST(test_full) {
        _cleanup_json_ json_object *doc = load_yaml(full_yaml), *s = NULL;
        _cleanup_free_ char *before = strdup(plain(doc));

        ck_assert_int_eq(stack_normalize("stack.yaml", doc, SELF, "st", &s, NULL), 0);
        assert_json_eq(
                s,
                "{\"stack\": {\"id\": \"st\", \"name\": \"Production\", \"region\": \"eu-west-1\","
                "   \"default_os\": \"debian-12\", \"hostname_theme\": \"planets\","
                "   \"custom_json\": {\"db\": {\"host\": \"db1\"}}, \"run_as\": \"deploy\"},"
                " \"layers\": ["
                "  {\"id\": \"web\", \"shortname\": \"web\", \"name\": \"web\","
                "   \"recipes\": {\"setup\": [\"nginx\", \"app::setup\"], \"configure\": [],"
                "     \"deploy\": [\"app::deploy\"], \"undeploy\": [], \"shutdown\": []},"
                "   \"packages\": [\"nginx\", \"git\"], \"auto_healing\": true,"
                "   \"shutdown_timeout\": 120, \"mounts\": [],"
                "   \"environment\": {\"PORT\": \"8080\"}, \"custom_json\": {}},"
                "  {\"id\": \"l-db\", \"shortname\": \"db\", \"name\": \"Database\","
                "   \"recipes\": {\"setup\": [], \"configure\": [], \"deploy\": [],"
                "     \"undeploy\": [], \"shutdown\": []},"
                "   \"packages\": [], \"auto_healing\": false, \"shutdown_timeout\": 30,"
                "   \"mounts\": [{\"path\": \"/data\", \"device\": \"/dev/xvdf\"}],"
                "   \"environment\": {}, \"custom_json\": {\"pg\": {\"version\": 15}},"
                "   \"extra\": \"kept\"}],"
                " \"apps\": ["
                "  {\"shortname\": \"site\", \"name\": \"site\", \"type\": \"static\","
                "   \"source\": {\"type\": \"git\", \"url\": \"https://example.com/site.git\","
                "     \"revision\": \"main\", \"depth\": 1},"
                "   \"environment\": {}, \"domains\": [\"example.com\"],"
                "   \"ssl\": {\"certificate\": \"CERT\", \"key\": \"KEY\", \"chain\": \"CHAIN\"},"
                "   \"data_sources\": [{\"type\": \"postgres\", \"host\": \"db1\"}],"
                "   \"document_root\": \"public\", \"attributes\": {\"workers\": 4},"
                "   \"keep_releases\": 3, \"restart_command\": [\"systemctl\", \"restart\", "
                "\"site\"], \"symlinks\": {}, \"hook_timeout\": 600}],"
                " \"instances\": ["
                "  {\"id\": \"i-2\", \"hostname\": \"i-2\", \"layer_ids\": [\"l-db\"],"
                "   \"status\": \"online\", \"private_ip\": \"10.0.0.2\"},"
                "  {\"id\": \"i-1\", \"hostname\": \"web1\", \"layer_ids\": [\"web\", \"l-db\"],"
                "   \"status\": \"stopped\", \"os\": \"debian-12\", \"public_ip\": \"192.0.2.1\"}],"
                " \"users\": ["
                "  {\"name\": \"alice\", \"ssh_public_key\": \"ssh-ed25519 AAAA alice\","
                "   \"sudo\": true, \"allow_ssh\": true},"
                "  {\"name\": \"bob\", \"sudo\": false, \"allow_ssh\": false}]}");

        /* The input is left as it was. */
        ck_assert_str_eq(plain(doc), before);
}
END_TEST

START_TEST(test_self_added) {
        _cleanup_json_ json_object *s =
                normalize_yaml("stack: {id: own}\n"
                               "layers: [{id: web}]\n"
                               "instances: [{id: i-2, layer_ids: [web]}]\n");
        _cleanup_free_ char *host = hostname(), *expected = NULL;

        /* The file's stack id wins over the configured one. */
        ck_assert_str_eq(json_get_string(json_get_path(s, "stack"), "id"), "own");
        ck_assert_str_eq(json_get_string(json_get_path(s, "stack"), "name"), "own");

        expected = strf("[{\"id\": \"i-2\", \"hostname\": \"i-2\", \"layer_ids\": [\"web\"], "
                        "\"status\": \"online\"}, {\"id\": \"" SELF "\", \"hostname\": \"%s\", "
                        "\"layer_ids\": [], \"status\": \"online\"}]",
                        host);
        assert_json_eq(json_object_object_get(s, "instances"), expected);
}
END_TEST

START_TEST(test_self_hostname) {
        _cleanup_json_ json_object *s = normalize_yaml("instances: [{id: " SELF "}]\n");
        _cleanup_free_ char *host = hostname();

        ck_assert_int_eq(json_object_array_length(json_object_object_get(s, "instances")), 1);
        ck_assert_str_eq(json_get_string(stack_self(s, SELF), "hostname"), host);
}
END_TEST

START_TEST(test_json_document) {
        const char *text = "{\"layers\": [{\"id\": \"web\", \"recipes\": {\"configure\": "
                           "[\"web::conf\"]}}], \"instances\": [{\"id\": \"i-1\", "
                           "\"layer_ids\": [\"web\"]}]}";
        _cleanup_json_ json_object *doc = NULL, *s = NULL, *layers = NULL;

        ck_assert_int_eq(json_parse_strict("stack.json", text, strlen(text), &doc, NULL), 0);
        ck_assert_int_eq(stack_normalize("stack.json", doc, SELF, "st", &s, NULL), 0);
        ck_assert_int_eq(stack_self_layers(s, SELF, &layers), 0);
        ck_assert_int_eq(json_object_array_length(layers), 1);
        assert_json_eq(json_get_path(json_object_array_get_idx(layers, 0), "recipes"),
                       "{\"setup\": [], \"configure\": [\"web::conf\"], \"deploy\": [], "
                       "\"undeploy\": [], \"shutdown\": []}");
}
END_TEST

START_TEST(test_self_layers) {
        _cleanup_json_ json_object *s = normalize_yaml(full_yaml), *a = NULL, *b = NULL;
        json_object *none = (json_object *)1;

        ck_assert_str_eq(json_get_string(stack_self(s, "i-1"), "hostname"), "web1");
        ck_assert_str_eq(json_get_string(stack_self(s, "i-2"), "hostname"), "i-2");
        ck_assert_ptr_null(stack_self(s, "i-3"));

        /* In the instance's layer_ids order, not the stack's. */
        ck_assert_int_eq(stack_self_layers(s, "i-1", &a), 0);
        ck_assert_int_eq(json_object_array_length(a), 2);
        ck_assert_str_eq(json_get_string(json_object_array_get_idx(a, 0), "id"), "web");
        ck_assert_str_eq(json_get_string(json_object_array_get_idx(a, 1), "id"), "l-db");
        /* The same objects as in the stack. */
        ck_assert_ptr_eq(json_object_array_get_idx(a, 0),
                         json_object_array_get_idx(json_object_object_get(s, "layers"), 0));

        ck_assert_int_eq(stack_self_layers(s, "i-2", &b), 0);
        ck_assert_int_eq(json_object_array_length(b), 1);
        ck_assert_str_eq(json_get_string(json_object_array_get_idx(b, 0), "id"), "l-db");

        ck_assert_int_eq(stack_self_layers(s, "i-3", &none), -ENOENT);
        ck_assert_ptr_eq(none, (json_object *)1);
}
END_TEST

START_TEST(test_bad_arguments) {
        json_object *s = NULL;

        ck_assert_int_eq(stack_normalize("s", NULL, NULL, "st", &s, NULL), -EINVAL);
        ck_assert_int_eq(stack_normalize("s", NULL, SELF, NULL, &s, NULL), -EINVAL);
        ck_assert_ptr_null(s);
}
END_TEST

START_TEST(test_top_level_errors) {
        assert_error("- a\n", "stack.yaml: expected a mapping of stack, layers, apps, instances, "
                              "users");
        assert_error("42\n", "stack.yaml: expected a mapping of stack, layers, apps, instances, "
                             "users");
        assert_error("layer: []\n", "stack.yaml: unknown key 'layer' (expected stack, layers, "
                                    "apps, instances, users)");
        assert_error("stack: []\n", "stack.yaml: stack: expected a mapping");
        assert_error("stack: {id: 5}\n", "stack.yaml: stack.id: expected " IDENTIFIER_RULE);
        assert_error("stack: {id: a/b}\n", "stack.yaml: stack.id: expected " IDENTIFIER_RULE);
        assert_error("stack: {name: [x]}\n", "stack.yaml: stack.name: expected a string");
        assert_error("stack: {region: 1}\n", "stack.yaml: stack.region: expected a string");
        assert_error("stack: {default_os: {}}\n",
                     "stack.yaml: stack.default_os: expected a string");
        assert_error("stack: {hostname_theme: true}\n",
                     "stack.yaml: stack.hostname_theme: expected a string");
        assert_error("stack: {custom_json: 1}\n",
                     "stack.yaml: stack.custom_json: expected a mapping");
        assert_error("stack: {cookbook_sources: {type: git}}\n",
                     "stack.yaml: stack.cookbook_sources: expected a list of sources");
        assert_error("stack: {cookbook_sources: [{type: local, url: /c}, {type: git}]}\n",
                     "stack.yaml: stack.cookbook_sources[1].url: missing");
        assert_error("stack: {cookbook_sources: [{type: git, url: u, submodules: 1}]}\n",
                     "stack.yaml: stack.cookbook_sources[0].submodules: expected true or false");
        assert_error("layers: {}\n", "stack.yaml: layers: expected a list of mappings");
        assert_error("apps: x\n", "stack.yaml: apps: expected a list of mappings");
        assert_error("instances: 1\n", "stack.yaml: instances: expected a list of mappings");
        assert_error("users: ~\n", "stack.yaml: users: expected a list of mappings");
}
END_TEST

START_TEST(test_layer_errors) {
        assert_error("layers: [web]\n", "stack.yaml: layers[0]: expected a mapping");
        assert_error("layers: [{id: a}, {name: x}]\n",
                     "stack.yaml: layers[1]: expected an id or a shortname");
        assert_error("layers: [{id: -web}]\n",
                     "stack.yaml: layers[0].id: expected " IDENTIFIER_RULE);
        assert_error("layers: [{shortname: .web}]\n",
                     "stack.yaml: layers[0].shortname: expected " IDENTIFIER_RULE);
        assert_error("layers: [{id: a, name: 1}]\n",
                     "stack.yaml: layers[0].name: expected a string");
        assert_error("layers: [{id: a}, {shortname: b, recipes: {setup: nginx}}]\n",
                     "stack.yaml: layers[1].recipes.setup: expected a list of recipe names");
        assert_error("layers: [{id: a, recipes: {configure: [1]}}]\n",
                     "stack.yaml: layers[0].recipes.configure[0]: expected a recipe name "
                     "(cookbook or cookbook::recipe)");
        assert_error("layers: [{id: a, recipes: {deploy: [ok, \"a::\"]}}]\n",
                     "stack.yaml: layers[0].recipes.deploy[1]: expected a recipe name "
                     "(cookbook or cookbook::recipe)");
        assert_error("layers: [{id: a, recipes: {undeploy: [\"../x\"]}}]\n",
                     "stack.yaml: layers[0].recipes.undeploy[0]: expected a recipe name "
                     "(cookbook or cookbook::recipe)");
        assert_error("layers: [{id: a, recipes: {shutdown: [\"a::b/c\"]}}]\n",
                     "stack.yaml: layers[0].recipes.shutdown[0]: expected a recipe name "
                     "(cookbook or cookbook::recipe)");
        assert_error("layers: [{id: a, recipes: {boot: []}}]\n",
                     "stack.yaml: layers[0].recipes: unknown event 'boot' (expected one of: "
                     "setup, configure, deploy, undeploy, shutdown)");
        assert_error("layers: [{id: a, recipes: []}]\n",
                     "stack.yaml: layers[0].recipes: expected a mapping of events (setup, "
                     "configure, deploy, undeploy, shutdown) to lists of recipe names");
        assert_error("layers: [{id: a, packages: nginx}]\n",
                     "stack.yaml: layers[0].packages: expected a list of strings");
        assert_error("layers: [{id: a, packages: [nginx, 1]}]\n",
                     "stack.yaml: layers[0].packages[1]: expected a string");
        assert_error("layers: [{id: a, auto_healing: yes}]\n",
                     "stack.yaml: layers[0].auto_healing: expected true or false");
        assert_error("layers: [{id: a, shutdown_timeout: 0}]\n",
                     "stack.yaml: layers[0].shutdown_timeout: expected a whole number of seconds "
                     "from 1 to 86400");
        assert_error("layers: [{id: a, shutdown_timeout: 86401}]\n",
                     "stack.yaml: layers[0].shutdown_timeout: expected a whole number of seconds "
                     "from 1 to 86400");
        assert_error("layers: [{id: a, shutdown_timeout: \"120\"}]\n",
                     "stack.yaml: layers[0].shutdown_timeout: expected a whole number of seconds "
                     "from 1 to 86400");
        assert_error("layers: [{id: a, shutdown_timeout: 1.5}]\n",
                     "stack.yaml: layers[0].shutdown_timeout: expected a whole number of seconds "
                     "from 1 to 86400");
        assert_error("layers: [{id: a, mounts: [/data]}]\n",
                     "stack.yaml: layers[0].mounts[0]: expected a mapping");
        assert_error("layers: [{id: a, mounts: {}}]\n",
                     "stack.yaml: layers[0].mounts: expected a list of mappings");
        assert_error("layers: [{id: a, environment: {PORT: 8080}}]\n",
                     "stack.yaml: layers[0].environment.PORT: expected a string");
        assert_error("layers: [{id: a, environment: [PORT]}]\n",
                     "stack.yaml: layers[0].environment: expected a mapping of strings");
        assert_error("layers: [{id: a, custom_json: []}]\n",
                     "stack.yaml: layers[0].custom_json: expected a mapping");
        assert_error("layers: [{id: a}, {id: b}, {id: a}]\n",
                     "stack.yaml: layers[2].id: 'a' is also the id of layers[0]");
        /* A shortname standing in for the id counts as the id. */
        assert_error("layers: [{id: a}, {shortname: a}]\n",
                     "stack.yaml: layers[1].id: 'a' is also the id of layers[0]");
        assert_error("layers: [{id: a, shortname: s}, {id: b, shortname: s}]\n",
                     "stack.yaml: layers[1].shortname: 's' is also the shortname of layers[0]");
}
END_TEST

START_TEST(test_app_errors) {
        assert_error("apps: [1]\n", "stack.yaml: apps[0]: expected a mapping");
        assert_error("apps: [{name: x}]\n", "stack.yaml: apps[0].shortname: missing");
        assert_error("apps: [{shortname: ../x}]\n",
                     "stack.yaml: apps[0].shortname: expected " IDENTIFIER_RULE);
        assert_error("apps: [{shortname: a, name: [x]}]\n",
                     "stack.yaml: apps[0].name: expected a string");
        assert_error("apps: [{shortname: a, type: 1}]\n",
                     "stack.yaml: apps[0].type: expected a string");
        assert_error("apps: [{shortname: a, source: git://x}]\n",
                     "stack.yaml: apps[0].source: expected a mapping (type, url, revision, ...)");
        assert_error("apps: [{shortname: a, source: {type: svn, url: u}}]\n",
                     "stack.yaml: apps[0].source.type: expected one of: git, s3, archive, http, "
                     "local");
        assert_error("apps: [{shortname: a, source: {url: u}}]\n",
                     "stack.yaml: apps[0].source.type: missing");
        assert_error("apps: [{shortname: a, source: {type: git}}]\n",
                     "stack.yaml: apps[0].source.url: missing");
        assert_error("apps: [{shortname: a, source: {type: git, url: u, revision: 3}}]\n",
                     "stack.yaml: apps[0].source.revision: expected a string");
        assert_error("apps: [{shortname: a, source: {type: s3, url: u, password: {}}}]\n",
                     "stack.yaml: apps[0].source.password: expected a string");
        assert_error("apps: [{shortname: a, environment: {A: [1]}}]\n",
                     "stack.yaml: apps[0].environment.A: expected a string");
        assert_error("apps: [{shortname: a, domains: [example.com, 1]}]\n",
                     "stack.yaml: apps[0].domains[1]: expected a string");
        assert_error("apps: [{shortname: a, ssl: {certificate: 1}}]\n",
                     "stack.yaml: apps[0].ssl.certificate: expected a string");
        assert_error("apps: [{shortname: a, data_sources: {}}]\n",
                     "stack.yaml: apps[0].data_sources: expected a list of mappings");
        assert_error("apps: [{shortname: a, document_root: 1}]\n",
                     "stack.yaml: apps[0].document_root: expected a string");
        assert_error("apps: [{shortname: a, attributes: 1}]\n",
                     "stack.yaml: apps[0].attributes: expected a mapping");
        assert_error("apps: [{shortname: a, keep_releases: 0}]\n",
                     "stack.yaml: apps[0].keep_releases: expected a whole number from 1 to 100");
        assert_error("apps: [{shortname: a, keep_releases: 101}]\n",
                     "stack.yaml: apps[0].keep_releases: expected a whole number from 1 to 100");
        assert_error("apps: [{shortname: a}, {shortname: a}]\n",
                     "stack.yaml: apps[1].shortname: 'a' is also the shortname of apps[0]");
}
END_TEST

START_TEST(test_instance_errors) {
        assert_error("instances: [x]\n", "stack.yaml: instances[0]: expected a mapping");
        assert_error("instances: [{hostname: x}]\n", "stack.yaml: instances[0].id: missing");
        assert_error("instances: [{id: a b}]\n",
                     "stack.yaml: instances[0].id: expected " IDENTIFIER_RULE);
        assert_error("instances: [{id: a, hostname: 1}]\n",
                     "stack.yaml: instances[0].hostname: expected a string");
        assert_error("instances: [{id: a, layer_ids: web}]\n",
                     "stack.yaml: instances[0].layer_ids: expected a list of identifiers");
        assert_error("instances: [{id: a, layer_ids: [.x]}]\n",
                     "stack.yaml: instances[0].layer_ids[0]: expected " IDENTIFIER_RULE);
        assert_error("layers: [{id: web}]\ninstances: [{id: a, layer_ids: [web, db]}]\n",
                     "stack.yaml: instances[0].layer_ids[1]: no layer has the id 'db'");
        assert_error("instances: [{id: a, status: 1}]\n",
                     "stack.yaml: instances[0].status: expected a string");
        assert_error("instances: [{id: a, private_ip: 1}]\n",
                     "stack.yaml: instances[0].private_ip: expected a string");
        assert_error("instances: [{id: a, public_ip: []}]\n",
                     "stack.yaml: instances[0].public_ip: expected a string");
        assert_error("instances: [{id: a, os: {}}]\n",
                     "stack.yaml: instances[0].os: expected a string");
        assert_error("instances: [{id: a}, {id: a}]\n",
                     "stack.yaml: instances[1].id: 'a' is also the id of instances[0]");
        /* This instance is added after the others when absent. */
        assert_error("instances: [{id: a, layer_ids: [x]}, {id: b}]\n",
                     "stack.yaml: instances[0].layer_ids[0]: no layer has the id 'x'");
}
END_TEST

START_TEST(test_user_errors) {
        assert_error("users: [alice]\n", "stack.yaml: users[0]: expected a mapping");
        assert_error("users: [{sudo: true}]\n", "stack.yaml: users[0].name: missing");
        assert_error("users: [{name: -x}]\n",
                     "stack.yaml: users[0].name: expected a user name of 1 to 32 letters, "
                     "digits, '.', '_' or '-', not starting with '-'");
        assert_error("users: [{name: a, ssh_public_key: [k]}]\n",
                     "stack.yaml: users[0].ssh_public_key: expected a string");
        assert_error("users: [{name: a, sudo: \"yes\"}]\n",
                     "stack.yaml: users[0].sudo: expected true or false");
        assert_error("users: [{name: a, allow_ssh: 1}]\n",
                     "stack.yaml: users[0].allow_ssh: expected true or false");
        assert_error("users: [{name: a}, {name: b}, {name: b}]\n",
                     "stack.yaml: users[2].name: 'b' is also the name of users[1]");
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("stack");
        TCase *tc = tcase_create("stack");

        tcase_add_test(tc, test_empty);
        tcase_add_test(tc, test_full);
        tcase_add_test(tc, test_self_added);
        tcase_add_test(tc, test_self_hostname);
        tcase_add_test(tc, test_json_document);
        tcase_add_test(tc, test_self_layers);
        tcase_add_test(tc, test_bad_arguments);
        tcase_add_test(tc, test_top_level_errors);
        tcase_add_test(tc, test_layer_errors);
        tcase_add_test(tc, test_app_errors);
        tcase_add_test(tc, test_instance_errors);
        tcase_add_test(tc, test_user_errors);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
