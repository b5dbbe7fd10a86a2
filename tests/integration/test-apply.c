/* SPDX-License-Identifier: MIT */
/* strata-agent apply as a user runs it: a real process, its exit status and output. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "fs-util.h"
#include "str-util.h"
#include "test-helpers.h"

static char *tmp;

static void setup(void) {
        tmp = test_tmpdir();
}

static void teardown(void) {
        test_rmdir(tmp);
        tmp = mfree(tmp);
}

/* Runs strata-agent with args; returns its exit status and stdout+stderr. */
static int agent(char **ret_output, const char *first, ...) {
        const char *bin = getenv("STRATA_AGENT");
        _cleanup_free_ char *outpath = strf("%s/.output", tmp);
        char *argv[64] = { (char *) bin, (char *) first };
        size_t n = 2;
        va_list ap;
        pid_t pid;
        int status;

        ck_assert_msg(bin, "STRATA_AGENT is not set (run through meson test)");
        va_start(ap, first);
        while ((argv[n] = va_arg(ap, char *)))
                ck_assert_uint_lt(++n, ELEMENTSOF(argv) - 1);
        va_end(ap);

        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int fd = open(outpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

                if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
                        _exit(127);
                execv(bin, argv);
                _exit(127);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status), "strata-agent died of signal %d", WTERMSIG(status));
        *ret_output = test_read(outpath);
        ck_assert_ptr_nonnull(*ret_output);
        return WEXITSTATUS(status);
}

static char *example_dir(void) {
        return strf("%s/config/examples/cookbooks", getenv("STRATA_SOURCE_DIR"));
}

static char *root_attributes(void) {
        _cleanup_free_ char *json = strf("{\"example\": {\"root\": \"%s/root\"}}", tmp);
        char *path = strf("%s/root.json", tmp);

        test_write(path, json);
        return path;
}

START_TEST(example_converges_then_is_up_to_date) {
        _cleanup_free_ char *cookbooks = example_dir(), *attrs = root_attributes();
        _cleanup_free_ char *out = NULL, *report_path = strf("%s/report.json", tmp);
        _cleanup_free_ char *motd_path = strf("%s/root/srv/motd", tmp), *motd = NULL;
        _cleanup_free_ char *conf_path = strf("%s/root/etc/site.conf", tmp), *conf = NULL;
        _cleanup_free_ char *built = strf("%s/root/srv/releases/1/built-by", tmp), *by = NULL;
        _cleanup_free_ char *vhost = strf("%s/root/etc/vhosts/api.conf", tmp), *vh = NULL;
        _cleanup_json_ json_object *report = NULL;
        char *report_text = NULL;
        struct stat st;

        ck_assert_int_eq(agent(&out, "apply", "--cookbook-path", cookbooks, "--json", attrs,
                               "--report", report_path, "example", NULL),
                         0);
        ck_assert_msg(strstr(out, "successful: "), "%s", out);
        motd = test_read(motd_path);
        ck_assert_str_eq(motd, "Welcome. This host is converged by Strata.\n");
        conf = test_read(conf_path);
        ck_assert_str_eq(conf, "# Example — rendered by strata; do not edit.\n"
                               "site Example\nlisten 8080\nworkers 2\n# no users given\n");
        ck_assert_int_eq(stat(conf_path, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0640);
        by = test_read(built);
        ck_assert_str_eq(by, TEST_USER "\n");
        vh = test_read(vhost);
        ck_assert_str_eq(vh, "server_name api.example.com;\nlisten 8080;\n");

        ck_assert_int_ge(read_full_file(report_path, 1 << 20, &report_text, NULL), 0);
        report = json_tokener_parse(report_text);
        free(report_text);
        ck_assert_ptr_nonnull(report);
        ck_assert_str_eq(json_object_get_string(json_object_object_get(report, "status")), "successful");
        ck_assert_int_eq(test_report_total(report, "failed"), 0);
        ck_assert_int_gt(test_report_total(report, "changed"), 8);
        json_object_put(report);
        report = NULL;

        out = mfree(out);
        ck_assert_int_eq(agent(&out, "apply", "--cookbook-path", cookbooks, "--json", attrs,
                               "--report", report_path, "example", NULL),
                         0);
        ck_assert_int_ge(read_full_file(report_path, 1 << 20, &report_text, NULL), 0);
        report = json_tokener_parse(report_text);
        free(report_text);
        ck_assert_int_eq(test_report_total(report, "changed"), 0);
        ck_assert_int_gt(test_report_total(report, "up_to_date"), 8);
}
END_TEST

START_TEST(why_run_changes_nothing) {
        _cleanup_free_ char *cookbooks = example_dir(), *attrs = root_attributes();
        _cleanup_free_ char *out = NULL, *root = strf("%s/root", tmp);
        struct stat st;

        ck_assert_int_eq(agent(&out, "apply", "--why-run", "--cookbook-path", cookbooks, "--json",
                               attrs, "example", NULL),
                         0);
        ck_assert_msg(strstr(out, "why-run: nothing was changed"), "%s", out);
        ck_assert_int_eq(stat(root, &st), -1);
}
END_TEST

START_TEST(bad_input_exits_2) {
        _cleanup_free_ char *cookbooks = example_dir(), *out = NULL;
        _cleanup_free_ char *bad = strf("%s/bad.yaml", tmp);

        ck_assert_int_eq(agent(&out, "apply", "--cookbook-path", cookbooks, "example::nope", NULL), 2);
        ck_assert_msg(strstr(out, "recipe example::nope not found"), "%s", out);
        out = mfree(out);
        ck_assert_int_eq(agent(&out, "apply", "example", NULL), 2);
        ck_assert_msg(strstr(out, "no --cookbook-path given"), "%s", out);
        out = mfree(out);
        ck_assert_int_eq(agent(&out, "apply", "--bogus", NULL), 2);
        out = mfree(out);
        test_write(bad, "a: [1, 2\n");
        ck_assert_int_eq(agent(&out, "apply", "--cookbook-path", cookbooks, "--json", bad,
                               "example", NULL),
                         2);
        ck_assert_msg(strstr(out, "bad.yaml:2:"), "%s", out);
        out = mfree(out);
        ck_assert_int_eq(agent(&out, "frobnicate", NULL), 2);
}
END_TEST

START_TEST(failed_resource_exits_1) {
        _cleanup_free_ char *out = NULL;

        test_cookbook(tmp, "fails", "default", "- execute: {command: 'echo broken >&2; exit 3'}\n");
        ck_assert_int_eq(agent(&out, "apply", "--cookbook-path", tmp, "fails", NULL), 1);
        ck_assert_msg(strstr(out, "failed"), "%s", out);
        ck_assert_msg(strstr(out, "broken"), "%s", out);
}
END_TEST

/* Every JSONTestSuite file as an attributes file: n_* rejected with exit 2 and a message
 * naming the file; y_* parsed (only objects are attributes, so other documents are refused as
 * such, never as syntax errors); i_* either way; no crash anywhere. */
START_TEST(json_test_suite_as_attributes) {
        _cleanup_free_ char *cookbooks = example_dir(), *attrs = root_attributes();
        _cleanup_free_ char *corpus = strf("%s/json/test_parsing", test_conformance_dir());
        struct dirent **list = NULL;
        int n = scandir(corpus, &list, NULL, alphasort);
        unsigned checked = 0;

        ck_assert_int_gt(n, 300);
        for (int i = 0; i < n; i++) {
                const char *name = list[i]->d_name;
                _cleanup_free_ char *path = strf("%s/%s", corpus, name), *out = NULL;
                int status;

                if (name[0] == '.' || !endswith(name, ".json")) {
                        free(list[i]);
                        continue;
                }
                status = agent(&out, "apply", "--why-run", "--cookbook-path", cookbooks, "--json",
                               path, "--json", attrs, "example", NULL);
                if (name[0] == 'n') {
                        ck_assert_msg(status == 2, "%s: exit %d: %s", name, status, out);
                        ck_assert_msg(strstr(out, name), "%s: error does not name the file: %s",
                                      name, out);
                } else if (name[0] == 'y') {
                        ck_assert_msg(status == 0 || (status == 2 && strstr(out, "must be a JSON object")),
                                      "%s: exit %d: %s", name, status, out);
                } else
                        ck_assert_msg(status == 0 || status == 2, "%s: exit %d: %s", name, status, out);
                checked++;
                free(list[i]);
        }
        free(list);
        ck_assert_uint_gt(checked, 300);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("apply");
        TCase *tc = tcase_create("apply");

        tcase_set_timeout(tc, 240);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, example_converges_then_is_up_to_date);
        tcase_add_test(tc, why_run_changes_nothing);
        tcase_add_test(tc, bad_input_exits_2);
        tcase_add_test(tc, failed_resource_exits_1);
        tcase_add_test(tc, json_test_suite_as_attributes);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
