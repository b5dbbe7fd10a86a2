/* SPDX-License-Identifier: MIT */
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "str-util.h"
#include "test-helpers.h"

static char *dir, *cookbooks, *fstab, *mnt;

static void umount_all(void) {
        while (umount2(mnt, MNT_DETACH) == 0)
                ;
}

/* The temp dir is made and removed by the parent process (an unchecked fixture), so that what
 * a failed test left mounted is unmounted even though its own process ended at the failure. */
static void setup_once(void) {
        dir = test_tmpdir();
        cookbooks = strf("%s/cookbooks", dir);
        fstab = strf("%s/fstab", dir);
        mnt = strf("%s/my data", dir); /* a blank, to see it escaped as \040 */
        ck_assert_ptr_nonnull(cookbooks);
        ck_assert_ptr_nonnull(fstab);
        ck_assert_ptr_nonnull(mnt);
}

static void teardown_once(void) {
        umount_all();
        test_rmdir(dir);
        dir = mfree(dir);
        cookbooks = mfree(cookbooks);
        fstab = mfree(fstab);
        mnt = mfree(mnt);
}

static void setup(void) {
        umount_all();
        ck_assert(unlink(fstab) == 0 || errno == ENOENT);
        ck_assert(mkdir(mnt, 0755) == 0 || errno == EEXIST);
}

/* test_converge() with fstab pointed into the test's temp dir. */
static int run(const char *yaml, bool why_run, json_object **ret_report, char **ret_error) {
        char *path[] = { cookbooks, NULL };
        char *run_list[] = { (char *) "disks", NULL };
        _cleanup_free_ char *cache = strf("%s/cache", dir);
        RuntimeConfig cfg = {
                .cookbook_path = path,
                .run_as = TEST_USER,
                .why_run = why_run,
                .fstab = fstab,
                .cache_dir = cache,
        };
        ConvergeRequest req = { .run_list = run_list };

        test_cookbook(cookbooks, "disks", "default", yaml);
        *ret_report = NULL;
        return converge(&cfg, &req, ret_report, NULL, ret_error);
}

/* Runs the recipe `yaml` (in which %s is the mount point) and checks its status and error. */
#define expect(yaml, why_run, status, error) expect_yaml(strf(yaml, mnt), why_run, status, error)

static void expect_yaml(char *yaml, bool why_run, const char *status, const char *error) {
        _cleanup_json_ json_object *report = NULL;
        _cleanup_free_ char *e = NULL;

        ck_assert_ptr_nonnull(yaml);
        ck_assert_msg(run(yaml, why_run, &report, &e) >= 0, "converge: %s", strempty(e));
        free(yaml);
        ck_assert_str_eq(test_report_status(report, 0), status);
        if (error)
                ck_assert_str_eq(test_report_error(report, 0), error);
}

static bool is_tmpfs(const char *path) {
        struct statfs sf;

        ck_assert_int_eq(statfs(path, &sf), 0);
        return sf.f_type == TMPFS_MAGIC;
}

#define mount_yaml \
        "- mount: {path: '%s', device: scratch, fstype: tmpfs, options: 'size=1m,mode=0700'}\n"
#define umount_yaml "- mount: {path: '%s', action: umount}\n"

START_TEST(mount_and_umount) {
        struct stat st;

        ck_assert(!is_tmpfs(mnt));
        expect(mount_yaml, true, "changed", NULL);
        ck_assert(!is_tmpfs(mnt));

        expect(mount_yaml, false, "changed", NULL);
        ck_assert(is_tmpfs(mnt));
        ck_assert_int_eq(stat(mnt, &st), 0);
        ck_assert_int_eq(st.st_mode & 07777, 0700);
        expect(mount_yaml, false, "up_to_date", NULL);

        expect(umount_yaml, true, "changed", NULL);
        ck_assert(is_tmpfs(mnt));
        expect(umount_yaml, false, "changed", NULL);
        ck_assert(!is_tmpfs(mnt));
        expect(umount_yaml, false, "up_to_date", NULL);
}
END_TEST

START_TEST(mounted_from_elsewhere) {
        _cleanup_free_ char *error = NULL;

        ck_assert_int_eq(mount("other", mnt, "tmpfs", 0, "size=1m"), 0);
        error = strf("%s is mounted from other (tmpfs), not from scratch; unmount it first", mnt);
        expect(mount_yaml, false, "failed", error);
}
END_TEST

START_TEST(mount_point_missing) {
        _cleanup_free_ char *error = NULL;

        ck_assert_int_eq(rmdir(mnt), 0);
        error = strf("mount point %s is not a directory (create it first, e.g. with a directory "
                     "resource)",
                     mnt);
        expect(mount_yaml, false, "failed", error);
}
END_TEST

START_TEST(mount_fails) {
        _cleanup_json_ json_object *report = NULL;
        _cleanup_free_ char *yaml = NULL, *e = NULL;
        const char *error;

        yaml = strf("- mount: {path: '%s', device: x, fstype: nosuchfs}\n", mnt);
        ck_assert_int_eq(run(yaml, false, &report, &e), 1);
        error = json_object_get_string(json_object_object_get(
                json_object_array_get_idx(json_object_object_get(report, "resources"), 0),
                "error"));
        ck_assert_msg(startswith(error, "mount -t nosuchfs -o defaults -- x ") &&
                              strstr(error, "failed with exit status 32: mount: "),
                      "unexpected error: %s", error);
}
END_TEST

#define enable_yaml                                                                                \
        "- mount: {path: '%s', device: UUID=1234-abcd, fstype: ext4, options: 'noatime,nofail', " \
        "pass: 2, action: enable}\n"
#define disable_yaml "- mount: {path: '%s', action: disable}\n"

START_TEST(fstab_entry) {
        _cleanup_free_ char *before = NULL, *after = NULL, *got = NULL, *line = NULL;
        struct stat st;

        line = strf("UUID=1234-abcd %s/my\\040data ext4 noatime,nofail 0 2\n", dir);
        /* Two stale entries for the mount point (one with a trailing slash) and one last line
         * without its newline. */
        before = strf("# /etc/fstab\n"
                      "proc /proc proc defaults 0 0\n"
                      "/dev/old\t%s/my\\040data  xfs defaults 0 0\n"
                      "\n"
                      "  # comment\n"
                      "/dev/older %s/my\\040data/ xfs defaults 0 0\n"
                      "tmpfs /tmp tmpfs defaults 0 0",
                      dir, dir);
        after = strf("# /etc/fstab\n"
                     "proc /proc proc defaults 0 0\n"
                     "%s"
                     "\n"
                     "  # comment\n"
                     "tmpfs /tmp tmpfs defaults 0 0\n",
                     line);
        test_write(fstab, before);
        ck_assert_int_eq(chmod(fstab, 0640), 0);

        expect(enable_yaml, true, "changed", NULL);
        got = test_read(fstab);
        ck_assert_str_eq(got, before);
        got = mfree(got);

        expect(enable_yaml, false, "changed", NULL);
        got = test_read(fstab);
        ck_assert_str_eq(got, after);
        got = mfree(got);
        ck_assert_int_eq(stat(fstab, &st), 0);
        ck_assert_int_eq(st.st_mode & 07777, 0640);
        expect(enable_yaml, false, "up_to_date", NULL);

        expect(disable_yaml, true, "changed", NULL);
        expect(disable_yaml, false, "changed", NULL);
        got = test_read(fstab);
        ck_assert_str_eq(got, "# /etc/fstab\n"
                              "proc /proc proc defaults 0 0\n"
                              "\n"
                              "  # comment\n"
                              "tmpfs /tmp tmpfs defaults 0 0\n");
        expect(disable_yaml, false, "up_to_date", NULL);
}
END_TEST

START_TEST(fstab_created) {
        _cleanup_free_ char *got = NULL, *line = NULL;
        struct stat st;

        expect(disable_yaml, false, "up_to_date", NULL);
        ck_assert_int_eq(access(fstab, F_OK), -1);

        expect(enable_yaml, false, "changed", NULL);
        line = strf("UUID=1234-abcd %s/my\\040data ext4 noatime,nofail 0 2\n", dir);
        got = test_read(fstab);
        ck_assert_str_eq(got, line);
        ck_assert_int_eq(stat(fstab, &st), 0);
        ck_assert_int_eq(st.st_mode & 07777, 0644);
        ck_assert_int_eq(st.st_uid, 0);
}
END_TEST

static void expect_load_error(const char *yaml, const char *needle) {
        _cleanup_json_ json_object *report = NULL;
        _cleanup_free_ char *error = NULL;

        ck_assert_int_lt(run(yaml, false, &report, &error), 0);
        ck_assert_ptr_nonnull(error);
        ck_assert_msg(strstr(error, needle), "'%s' does not contain '%s'", error, needle);
}

START_TEST(bad_properties) {
        expect_load_error("- mount: {path: /mnt/x, device: /dev/x, action: enable}\n",
                          "mount[/mnt/x]: property 'fstype' is required to enable");
        expect_load_error("- mount: {path: /mnt/x}\n",
                          "mount[/mnt/x]: property 'device' is required to mount or enable");
        expect_load_error("- mount: {path: mnt, device: x}\n",
                          "path 'mnt' must be an absolute path");
        expect_load_error("- mount: {path: /mnt/, device: x}\n",
                          "path '/mnt/' must be an absolute path");
        expect_load_error("- mount: {path: /mnt, device: -x}\n", "device '-x' is not a device");
        expect_load_error("- mount: {path: /mnt, device: x, options: 'a, b'}\n", "options 'a, b'");
        expect_load_error("- mount: {path: /mnt, device: x, pass: -1}\n", "pass 0 to 9");
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("res-mount");
        TCase *tc = tcase_create("mount");

        tcase_add_unchecked_fixture(tc, setup_once, teardown_once);
        tcase_add_checked_fixture(tc, setup, NULL);
        tcase_add_test(tc, mount_and_umount);
        tcase_add_test(tc, mounted_from_elsewhere);
        tcase_add_test(tc, mount_point_missing);
        tcase_add_test(tc, mount_fails);
        tcase_add_test(tc, fstab_entry);
        tcase_add_test(tc, fstab_created);
        tcase_add_test(tc, bad_properties);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
