/* SPDX-License-Identifier: MIT */
/* The parsers of pending updates on canned apt and dnf output, and the resource on this machine
 * in why-run only: a test never upgrades the machine's packages. */

#include <sys/stat.h>

#include "res-system-updates.h"
#include "spawn-program.h"
#include "str-util.h"
#include "test-helpers.h"

#define APT_LISTS "/var/lib/apt/lists"

/* The parsed names joined by ",", to compare in one assertion. */
static char *joined(char **packages) {
        char *s = strv_join(packages, ",");

        ck_assert_ptr_nonnull(s);
        return s;
}

static void expect_apt(const char *output, const char *want) {
        _cleanup_strv_free_ char **packages = NULL;
        _cleanup_free_ char *error = NULL, *got = NULL;

        ck_assert_msg(system_updates_parse_apt(output, &packages, &error) == 0, "parse: %s",
                      strempty(error));
        got = joined(packages);
        ck_assert_str_eq(got, want);
}

static void expect_apt_error(const char *output, const char *want) {
        _cleanup_strv_free_ char **packages = NULL;
        _cleanup_free_ char *error = NULL;

        ck_assert_int_eq(system_updates_parse_apt(output, &packages, &error), -EBADMSG);
        ck_assert_ptr_null(packages);
        ck_assert_str_eq(error, want);
}

static void expect_dnf(const char *output, const char *want) {
        _cleanup_strv_free_ char **packages = NULL;
        _cleanup_free_ char *got = NULL;

        ck_assert_int_eq(system_updates_parse_dnf(output, &packages), 0);
        got = joined(packages);
        ck_assert_str_eq(got, want);
}

START_TEST(apt_debian) {
        /* apt 2.6 on Debian 12, --with-new-pkgs: a new kernel ABI package comes in with the
         * metapackage's upgrade. */
        expect_apt("Reading package lists...\n"
                   "Building dependency tree...\n"
                   "Reading state information...\n"
                   "Calculating upgrade...\n"
                   "The following NEW packages will be installed:\n"
                   "  linux-image-6.1.0-28-amd64\n"
                   "The following packages will be upgraded:\n"
                   "  base-files libgnutls-dane0 libgnutls30 liblzma5 linux-image-amd64\n"
                   "  postgresql-common sed tzdata\n"
                   "8 upgraded, 1 newly installed, 0 to remove and 0 not upgraded.\n"
                   "Inst base-files [12.4+deb12u11] (12.4+deb12u15 Debian:12.15/oldstable "
                   "[amd64])\n"
                   "Conf base-files (12.4+deb12u15 Debian:12.15/oldstable [amd64])\n"
                   "Inst liblzma5 [5.4.1-1] (5.4.1-1+deb12u2 Debian-Security:12/"
                   "oldstable-security [amd64])\n"
                   "Conf liblzma5 (5.4.1-1+deb12u2 Debian-Security:12/oldstable-security "
                   "[amd64])\n"
                   "Inst libgnutls-dane0 [3.7.9-2+deb12u6] (3.7.9-2+deb12u7 Debian:12.15/"
                   "oldstable, Debian-Security:12/oldstable-security [amd64]) []\n"
                   "Inst libgnutls30 [3.7.9-2+deb12u6] (3.7.9-2+deb12u7 Debian:12.15/oldstable, "
                   "Debian-Security:12/oldstable-security [amd64])\n"
                   "Conf libgnutls30 (3.7.9-2+deb12u7 Debian:12.15/oldstable, "
                   "Debian-Security:12/oldstable-security [amd64])\n"
                   "Conf libgnutls-dane0 (3.7.9-2+deb12u7 Debian:12.15/oldstable, "
                   "Debian-Security:12/oldstable-security [amd64])\n"
                   "Inst linux-image-6.1.0-28-amd64 (6.1.119-1 Debian-Security:12/"
                   "oldstable-security [amd64])\n"
                   "Inst linux-image-amd64 [6.1.115-1] (6.1.119-1 Debian-Security:12/"
                   "oldstable-security [amd64])\n"
                   "Inst postgresql-common [248+deb12u1] (248+deb12u2 Debian-Security:12/"
                   "oldstable-security [all]) []\n"
                   "Inst sed [4.9-1] (4.9-1+deb12u1 Debian:12.15/oldstable [amd64])\n"
                   "Inst tzdata [2024a-0+deb12u1] (2025b-0+deb12u1 Debian:12.15/"
                   "oldstable-updates [all])\n"
                   "Conf linux-image-6.1.0-28-amd64 (6.1.119-1 Debian-Security:12/"
                   "oldstable-security [amd64])\n"
                   "Conf linux-image-amd64 (6.1.119-1 Debian-Security:12/oldstable-security "
                   "[amd64])\n"
                   "Conf postgresql-common (248+deb12u2 Debian-Security:12/oldstable-security "
                   "[all])\n"
                   "Conf sed (4.9-1+deb12u1 Debian:12.15/oldstable [amd64])\n"
                   "Conf tzdata (2025b-0+deb12u1 Debian:12.15/oldstable-updates [all])\n",
                   "liblzma5,libgnutls-dane0,libgnutls30,linux-image-amd64,postgresql-common");
}
END_TEST

START_TEST(apt_ubuntu) {
        /* The security archive among others, ESM, a foreign architecture, a name that says
         * security from an archive that does not, and a repository without a Release file. */
        expect_apt("Inst libssl3 [3.0.2-0ubuntu1.10] (3.0.2-0ubuntu1.12 Ubuntu:22.04/"
                   "jammy-updates, Ubuntu:22.04/jammy-security [amd64])\n"
                   "Inst libc6:i386 [2.35-0ubuntu3.4] (2.35-0ubuntu3.6 Ubuntu:22.04/"
                   "jammy-updates, Ubuntu:22.04/jammy-security [i386])\n"
                   "Inst python3-jinja2 [3.0.3-1] (3.0.3-1ubuntu0.1~esm1 UbuntuESMApps:22.04/"
                   "jammy-apps-security [all])\n"
                   "Inst libsecurity-tools-security [1.0-1] (1.1-1 Ubuntu:22.04/jammy-updates "
                   "[amd64])\n"
                   "Inst snapd [2.58+22.04] (2.61.3+22.04 Ubuntu:22.04/jammy-updates [amd64])\n"
                   "Inst local-tool [1.0] (1.1 localhost [amd64])\n"
                   "Conf libssl3 (3.0.2-0ubuntu1.12 Ubuntu:22.04/jammy-updates, "
                   "Ubuntu:22.04/jammy-security [amd64])\n",
                   "libssl3,libc6:i386,python3-jinja2");
}
END_TEST

START_TEST(apt_nothing) {
        expect_apt("Reading package lists...\n"
                   "Building dependency tree...\n"
                   "Reading state information...\n"
                   "Calculating upgrade...\n"
                   "0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n",
                   "");
        /* Only upgrades from elsewhere. */
        expect_apt("1 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n"
                   "Inst tzdata [2024a-0+deb12u1] (2025b-0+deb12u1 Debian:12.15/"
                   "oldstable-updates [all])\n"
                   "Conf tzdata (2025b-0+deb12u1 Debian:12.15/oldstable-updates [all])",
                   "");
        expect_apt("", "");
}
END_TEST

START_TEST(apt_bad_lines) {
        expect_apt_error("Inst libssl3 [3.0.11-1~deb12u2]\n",
                         "unexpected line 'Inst libssl3 [3.0.11-1~deb12u2]'");
        expect_apt_error("Inst libssl3 [3.0.11-1~deb12u2] (3.0.15-1~deb12u1)\n",
                         "unexpected line 'Inst libssl3 [3.0.11-1~deb12u2] (3.0.15-1~deb12u1)'");
        /* A name apt-get would take for an option never reaches its command line. */
        expect_apt_error("Inst -oAPT::X=1 [1] (2 Debian-Security:12/stable-security [all])\n",
                         "unexpected line 'Inst -oAPT::X=1 [1] (2 Debian-Security:12/"
                         "stable-security [all])'");
        expect_apt_error("Inst  [1] (2 Debian-Security:12/stable-security [all])\n",
                         "unexpected line 'Inst  [1] (2 Debian-Security:12/stable-security "
                         "[all])'");
}
END_TEST

START_TEST(dnf4) {
        /* RHEL 9: several advisories and versions for one package, and multilib. */
        expect_dnf("RHSA-2024:0310 Important/Sec. openssl-libs-1:3.0.7-25.el9_3.x86_64\n"
                   "RHSA-2024:0310 Important/Sec. openssl-1:3.0.7-25.el9_3.x86_64\n"
                   "RHSA-2024:1249 Moderate/Sec.  kernel-core-5.14.0-362.24.1.el9_3.x86_64\n"
                   "RHSA-2024:1249 Moderate/Sec.  "
                   "kernel-modules-core-5.14.0-362.24.1.el9_3.x86_64\n"
                   "RHSA-2024:2679 Low/Sec.       glibc-2.34-100.el9_4.2.x86_64\n"
                   "RHSA-2024:2679 Low/Sec.       glibc-2.34-100.el9_4.2.i686\n"
                   "RHSA-2024:3339 Important/Sec. glibc-2.34-100.el9_4.3.x86_64\n"
                   "RHSA-2024:3344 Moderate/Sec.  "
                   "python3-dnf-plugin-versionlock-4.3.0-13.el9.noarch\n",
                   "openssl-libs,openssl,kernel-core,kernel-modules-core,glibc,"
                   "python3-dnf-plugin-versionlock");
        /* Amazon Linux 2023 */
        expect_dnf("ALAS2023-2024-581 Important/Sec. openssl-libs-1:3.0.8-1.amzn2023.0.12.x86_64\n",
                   "openssl-libs");
}
END_TEST

START_TEST(dnf5) {
        expect_dnf("Name                   Type     Severity                    Package"
                   "              Issued\n"
                   "FEDORA-2024-4be7d3a2e8 security Moderate   expat-2.6.3-1.fc41.x86_64 "
                   "2024-09-18 01:14:51\n"
                   "FEDORA-2024-9b0f7ed3bd security Important  python3-libs-3.13.0-1.fc41.x86_64 "
                   "2024-10-08 02:44:03\n"
                   "FEDORA-2024-9b0f7ed3bd security Important  python3-3.13.0-1.fc41.x86_64 "
                   "2024-10-08 02:44:03\n",
                   "expat,python3-libs,python3");
}
END_TEST

START_TEST(dnf_nothing) {
        expect_dnf("", "");
        expect_dnf("\n", "");
        expect_dnf("Name Type Severity Package Issued\n", "");
}
END_TEST

START_TEST(properties) {
        test_expect_error("- system_updates: {package: openssl}\n",
                          "recipes/default.yaml:1:", "system_updates: unknown property 'package'");
        test_expect_error("- system_updates: {action: all}\n", "recipes/default.yaml:1:",
                          "system_updates[system_updates]: unknown action 'all' (expected one of: "
                          "security, nothing)");
        /* No property is needed. */
        json_object_put(test_run_recipe("- system_updates: {action: nothing}\n", true, 0));
        json_object_put(test_run_recipe("- system_updates: {name: security, action: nothing}\n",
                                        true, 0));
}
END_TEST

/* Every installed package and its version and state. dpkg-query's list is longer than
 * spawn_program() keeps, so it is read through a pipe. */
static char *dpkg_packages(void) {
        _cleanup_(strbuf_done) StrBuf b = {};
        FILE *f = popen("dpkg-query -W -f '${binary:Package} ${Version} ${Status}\\n'", "re");
        char chunk[4096];
        size_t n;

        ck_assert_ptr_nonnull(f);
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
                ck_assert_int_eq(strbuf_append(&b, chunk, n), 0);
        ck_assert_int_eq(pclose(f), 0);
        ck_assert_uint_gt(b.len, 0);
        return strbuf_steal(&b);
}

static void setup_machine(void) {
        test_lock_machine("strata-test-packages.lock");
}

static void teardown_machine(void) {
        test_unlock_machine();
}

START_TEST(why_run_on_this_machine) {
        _cleanup_free_ char *before = dpkg_packages(), *after = NULL, *output = NULL, *error = NULL;
        _cleanup_free_ char *list = NULL, *want = NULL;
        _cleanup_strv_free_ char **packages = NULL;
        _cleanup_json_ json_object *report = NULL;
        struct stat lists_before, lists_after;
        int status = -1;

        ck_assert_int_eq(stat(APT_LISTS, &lists_before), 0);

        /* The parser's view of the pending upgrades, as the resource will see them. */
        ck_assert_int_eq(spawn_program((char *[]){ (char *) "apt-get", (char *) "-s",
                                                   (char *) "-o", (char *) "Debug::NoLocking=1",
                                                   (char *) "--with-new-pkgs",
                                                   (char *) "upgrade", NULL },
                                       NULL, &output, &status),
                         0);
        ck_assert_msg(status == 0, "apt-get -s upgrade: %s", output);

        report = test_run_recipe("- system_updates: {}\n", true, 0);
        ck_assert_str_eq(test_report_field(report, 0, "name"), "system_updates");
        ck_assert_str_eq(test_report_field(report, 0, "action"), "security");
        if (strlen(output) >= SPAWN_OUTPUT_MAX) {
                /* A machine far behind: more pending upgrades than can be read. */
                ck_assert_str_eq(test_report_status(report, 0), "failed");
                ck_assert_str_eq(test_report_error(report, 0),
                                 "apt-get -s upgrade printed more than 64 KiB: too many pending "
                                 "updates to find the security ones among them; upgrade the "
                                 "others first");
        } else {
                ck_assert_msg(system_updates_parse_apt(output, &packages, &error) == 0,
                              "parse: %s", strempty(error));
                if (packages[0]) {
                        list = strv_join(packages, ", ");
                        want = strf("upgrade: %s", list);
                        ck_assert_ptr_nonnull(want);
                        ck_assert_str_eq(test_report_status(report, 0), "changed");
                        ck_assert_uint_eq(test_report_n_changes(report, 0), 1);
                        ck_assert_str_eq(test_report_change(report, 0, 0), want);
                } else {
                        ck_assert_str_eq(test_report_status(report, 0), "up_to_date");
                        ck_assert_uint_eq(test_report_n_changes(report, 0), 0);
                }
        }

        /* Nothing changed: no package, and no package list (no apt-get update). */
        after = dpkg_packages();
        ck_assert_str_eq(after, before);
        ck_assert_int_eq(stat(APT_LISTS, &lists_after), 0);
        test_assert_same_file(&lists_before, &lists_after);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("res-system-updates");
        TCase *parse = tcase_create("parse"), *resource = tcase_create("resource");

        tcase_add_test(parse, apt_debian);
        tcase_add_test(parse, apt_ubuntu);
        tcase_add_test(parse, apt_nothing);
        tcase_add_test(parse, apt_bad_lines);
        tcase_add_test(parse, dnf4);
        tcase_add_test(parse, dnf5);
        tcase_add_test(parse, dnf_nothing);
        suite_add_tcase(s, parse);

        tcase_add_unchecked_fixture(resource, setup_machine, teardown_machine);
        tcase_set_timeout(resource, 300);
        tcase_add_checked_fixture(resource, test_recipe_setup, test_recipe_teardown);
        tcase_add_test(resource, properties);
        tcase_add_test(resource, why_run_on_this_machine);
        suite_add_tcase(s, resource);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
