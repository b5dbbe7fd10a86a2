/* SPDX-License-Identifier: MIT */
#include <time.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>

#include "fs-util.h"
#include "str-util.h"
#include "test-helpers.h"

static char *path_in(const char *dir, const char *name) {
        char *p = strf("%s/%s", dir, name);

        ck_assert_ptr_nonnull(p);
        return p;
}

static bool exists(const char *path) {
        struct stat st;

        return lstat(path, &st) >= 0;
}

static unsigned count_entries(const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *de;
        unsigned n = 0;

        ck_assert_ptr_nonnull(d);
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

START_TEST(test_read_full_file) {
        _cleanup_free_ char *dir = test_tmpdir(), *f = path_in(dir, "f"), *e = path_in(dir, "e");
        _cleanup_free_ char *s = NULL, *s2 = NULL, *s3 = NULL;
        char *untouched = (char *)"x";
        size_t len = 99;

        test_write(f, "0123456789");
        ck_assert_int_eq(read_full_file(f, 10, &s, &len), 0);
        ck_assert_str_eq(s, "0123456789");
        ck_assert_uint_eq(len, 10);

        /* One byte past max fails, and leaves the outputs alone. */
        ck_assert_int_eq(read_full_file(f, 9, &untouched, &len), -EFBIG);
        ck_assert_str_eq(untouched, "x");
        ck_assert_uint_eq(len, 10);

        test_write(e, "");
        ck_assert_int_eq(read_full_file(e, 0, &s2, &len), 0);
        ck_assert_str_eq(s2, "");
        ck_assert_uint_eq(len, 0);

        ck_assert_int_eq(read_full_file(dir, 100, &untouched, NULL), -EISDIR);
        ck_assert_int_eq(read_full_file("/nonexistent/x", 100, &untouched, NULL), -ENOENT);

        /* procfs reports size 0: the limit must still hold while reading. */
        ck_assert_int_eq(read_full_file("/proc/self/status", 16, &untouched, NULL), -EFBIG);
        ck_assert_int_eq(read_full_file("/proc/self/status", 1 << 20, &s3, &len), 0);
        ck_assert(startswith(s3, "Name:"));
        ck_assert_uint_eq(strlen(s3), len);

        test_rmdir(dir);
}
END_TEST

START_TEST(test_read_full_file_binary) {
        _cleanup_free_ char *dir = test_tmpdir(), *f = path_in(dir, "bin"), *s = NULL;
        const char data[] = {'a', 0, 'b', 0, (char)0xff};
        size_t len;

        ck_assert_int_eq(write_file_atomic(f, data, sizeof(data), 0600, -1, -1), 0);
        ck_assert_int_eq(read_full_file(f, sizeof(data), &s, &len), 0);
        ck_assert_uint_eq(len, sizeof(data));
        ck_assert_int_eq(memcmp(s, data, sizeof(data)), 0);
        ck_assert_int_eq(s[len], 0);

        test_rmdir(dir);
}
END_TEST

START_TEST(test_write_file_atomic) {
        _cleanup_free_ char *dir = test_tmpdir(), *f = path_in(dir, "conf"),
                            *old = path_in(dir, "old"), *s = NULL, *s2 = NULL;
        struct stat st, st2;
        mode_t saved = umask(077);

        ck_assert_int_eq(write_file_atomic(f, "first\n", 6, 0644, -1, -1), 0);
        ck_assert_int_eq(stat(f, &st), 0);
        /* Exactly the mode asked for, whatever the umask. */
        ck_assert_uint_eq(st.st_mode & 07777, 0644);
        ck_assert_uint_eq(st.st_uid, getuid());
        s = test_read(f);
        ck_assert_str_eq(s, "first\n");

        /* The file is replaced, not rewritten: a hard link to the old one keeps the old bytes. */
        ck_assert_int_eq(link(f, old), 0);
        ck_assert_int_eq(write_file_atomic(f, "second", 6, 0600, 1234, 5678), 0);
        ck_assert_int_eq(stat(f, &st2), 0);
        ck_assert_uint_ne(st.st_ino, st2.st_ino);
        ck_assert_uint_eq(st2.st_mode & 07777, 0600);
        ck_assert_uint_eq(st2.st_uid, 1234);
        ck_assert_uint_eq(st2.st_gid, 5678);
        ck_assert_uint_eq(st2.st_size, 6);
        s2 = test_read(old);
        ck_assert_str_eq(s2, "first\n");

        /* No temp files left behind. */
        ck_assert_uint_eq(count_entries(dir), 2);

        umask(saved);
        test_rmdir(dir);
}
END_TEST

START_TEST(test_write_file_atomic_setuid) {
        _cleanup_free_ char *dir = test_tmpdir(), *f = path_in(dir, "tool");
        struct stat st;

        /* chown() clears set-id bits, so they must survive being set before or after it. */
        ck_assert_int_eq(write_file_atomic(f, "#!/bin/sh\n", 10, 04755, 0, 0), 0);
        ck_assert_int_eq(stat(f, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 04755);
        ck_assert_uint_eq(st.st_uid, 0);

        test_rmdir(dir);
}
END_TEST

START_TEST(test_write_file_atomic_symlink) {
        _cleanup_free_ char *dir = test_tmpdir(), *target = path_in(dir, "target"),
                            *link_path = path_in(dir, "link"), *s = NULL, *s2 = NULL;
        struct stat st;

        /* A symlink at path is replaced by the file, never written through. */
        test_write(target, "target");
        ck_assert_int_eq(symlink(target, link_path), 0);
        ck_assert_int_eq(write_file_atomic(link_path, "new", 3, 0644, -1, -1), 0);
        ck_assert_int_eq(lstat(link_path, &st), 0);
        ck_assert(S_ISREG(st.st_mode));
        s = test_read(target);
        ck_assert_str_eq(s, "target");
        s2 = test_read(link_path);
        ck_assert_str_eq(s2, "new");

        test_rmdir(dir);
}
END_TEST

START_TEST(test_write_file_atomic_errors) {
        _cleanup_free_ char *dir = test_tmpdir(), *missing = path_in(dir, "no/such/file"),
                            *slash = path_in(dir, "d/");

        ck_assert_int_eq(write_file_atomic(missing, "x", 1, 0644, -1, -1), -ENOENT);
        ck_assert_int_eq(write_file_atomic(slash, "x", 1, 0644, -1, -1), -EISDIR);
        ck_assert_int_eq(write_file_atomic(dir, "x", 1, 0644, -1, -1), -EISDIR);
        ck_assert_int_eq(write_file_atomic("", "x", 1, 0644, -1, -1), -EINVAL);
        ck_assert_uint_eq(count_entries(dir), 0);

        test_rmdir(dir);
}
END_TEST

START_TEST(test_mkdir_parents) {
        _cleanup_free_ char *dir = test_tmpdir(), *deep = path_in(dir, "a//b/c/"),
                            *a = path_in(dir, "a"), *c = path_in(dir, "a/b/c"),
                            *file = path_in(dir, "file"), *under = path_in(dir, "file/x");
        mode_t saved = umask(077);
        struct stat st;

        ck_assert_int_eq(mkdir_parents(deep, 0751), 0);
        ck_assert_int_eq(stat(c, &st), 0);
        ck_assert(S_ISDIR(st.st_mode));
        ck_assert_uint_eq(st.st_mode & 07777, 0751);
        ck_assert_int_eq(stat(a, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0751);

        /* Existing components keep their mode. */
        ck_assert_int_eq(chmod(a, 0700), 0);
        ck_assert_int_eq(mkdir_parents(c, 0755), 0);
        ck_assert_int_eq(stat(a, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0700);

        test_write(file, "x");
        ck_assert_int_eq(mkdir_parents(file, 0755), -ENOTDIR);
        ck_assert_int_eq(mkdir_parents(under, 0755), -ENOTDIR);
        ck_assert_int_eq(mkdir_parents("", 0755), -EINVAL);
        ck_assert_int_eq(mkdir_parents("/", 0755), 0);

        umask(saved);
        test_rmdir(dir);
}
END_TEST

START_TEST(test_rm_rf) {
        _cleanup_free_ char *dir = test_tmpdir(), *outside = test_tmpdir(),
                            *tree = path_in(dir, "tree"), *keep = path_in(outside, "keep"),
                            *deep = path_in(dir, "tree/a/b/c/d"), *f1 = path_in(dir, "tree/f"),
                            *f2 = path_in(dir, "tree/a/b/c/d/.hidden"),
                            *l1 = path_in(dir, "tree/a/to-outside"),
                            *l2 = path_in(dir, "tree/a/to-keep"), *s = NULL;

        test_write(keep, "precious");
        ck_assert_int_eq(mkdir_parents(deep, 0755), 0);
        test_write(f1, "1");
        test_write(f2, "2");
        ck_assert_int_eq(symlink(outside, l1), 0);
        ck_assert_int_eq(symlink(keep, l2), 0);
        /* An unreadable directory is still removed by root. */
        ck_assert_int_eq(chmod(deep, 0), 0);

        ck_assert_int_eq(rm_rf(tree), 0);
        ck_assert(!exists(tree));
        /* Symlinks were removed, never followed. */
        s = test_read(keep);
        ck_assert_str_eq(s, "precious");
        ck_assert_uint_eq(count_entries(outside), 1);

        /* Missing is fine; a plain file and a dangling symlink go too. */
        ck_assert_int_eq(rm_rf(tree), 0);
        ck_assert_int_eq(rm_rf(f1), 0);
        test_write(f1, "1");
        ck_assert_int_eq(rm_rf(f1), 0);
        ck_assert(!exists(f1));

        test_rmdir(dir);
        test_rmdir(outside);
}
END_TEST

START_TEST(test_rm_rf_top_symlink) {
        _cleanup_free_ char *dir = test_tmpdir(), *outside = test_tmpdir(),
                            *link_path = path_in(dir, "link"), *keep = path_in(outside, "keep");

        test_write(keep, "x");
        ck_assert_int_eq(symlink(outside, link_path), 0);
        ck_assert_int_eq(rm_rf(link_path), 0);
        ck_assert(!exists(link_path));
        ck_assert(exists(keep));

        test_rmdir(dir);
        test_rmdir(outside);
}
END_TEST

START_TEST(test_rm_rf_refuses_root) {
        ck_assert_int_eq(rm_rf("/"), -EPERM);
        ck_assert_int_eq(rm_rf("//"), -EPERM);
        ck_assert_int_eq(rm_rf("/."), -EPERM);
        ck_assert_int_eq(rm_rf(""), -EINVAL);
}
END_TEST

/* Mounts `source` (a tmpfs when NULL) on tree/mnt, runs rm_rf(tree), unmounts, and only then
 * asserts, so a failure never leaves a mount behind. */
static void check_rm_rf_mount(const char *source) {
        _cleanup_free_ char *dir = test_tmpdir(), *tree = path_in(dir, "tree"),
                            *mnt = path_in(dir, "tree/sub/mnt"), *inner = path_in(mnt, "inner"),
                            *sibling = path_in(dir, "tree/sibling"), *s = NULL;
        bool gone_sibling;
        int r, m;

        ck_assert_int_eq(mkdir_parents(mnt, 0755), 0);
        test_write(sibling, "s");
        if (source)
                m = mount(source, mnt, "none", MS_BIND, NULL);
        else
                m = mount("strata-test", mnt, "tmpfs", 0, "size=1m");
        ck_assert_msg(m == 0, "mount: %s", strerror(errno));
        test_write(inner, "on the mount");

        r = rm_rf(tree);
        s = test_read(inner);
        gone_sibling = !exists(sibling);
        ck_assert_int_eq(umount2(mnt, MNT_DETACH), 0);

        ck_assert_int_eq(r, -EXDEV);
        ck_assert_str_eq(s, "on the mount");
        ck_assert(gone_sibling);
        ck_assert(exists(mnt));

        test_rmdir(dir);
}

START_TEST(test_rm_rf_mount_point) {
        check_rm_rf_mount(NULL);
}
END_TEST

START_TEST(test_rm_rf_bind_mount) {
        _cleanup_free_ char *src = test_tmpdir();

        /* Same file system, same st_dev: only the mount-root attribute tells. */
        check_rm_rf_mount(src);
        test_rmdir(src);
}
END_TEST

START_TEST(test_resolve_user) {
        uid_t uid = 7;
        gid_t gid = 7;

        ck_assert_int_eq(resolve_user("root", &uid, &gid), 0);
        ck_assert_uint_eq(uid, 0);
        ck_assert_uint_eq(gid, 0);
        ck_assert_int_eq(resolve_user("nobody", &uid, &gid), 0);
        ck_assert_uint_eq(uid, 65534);
        ck_assert_uint_eq(gid, 65534);
        ck_assert_int_eq(resolve_user("65534", &uid, &gid), 0);
        ck_assert_uint_eq(uid, 65534);
        ck_assert_uint_eq(gid, 65534);
        ck_assert_int_eq(resolve_user("0", &uid, NULL), 0);
        ck_assert_uint_eq(uid, 0);

        /* A number without an entry is an owner with no known group. */
        ck_assert_int_eq(resolve_user("4000000", &uid, &gid), 0);
        ck_assert_uint_eq(uid, 4000000);
        ck_assert_uint_eq(gid, (gid_t)-1);

        uid = gid = 7;
        ck_assert_int_eq(resolve_user("no-such-user-strata", &uid, &gid), -ESRCH);
        ck_assert_int_eq(resolve_user("", &uid, &gid), -EINVAL);
        ck_assert_int_eq(resolve_user("4294967295", &uid, &gid), -EINVAL);
        ck_assert_uint_eq(uid, 7);
        ck_assert_uint_eq(gid, 7);
}
END_TEST

START_TEST(test_resolve_group) {
        gid_t gid = 7;

        ck_assert_int_eq(resolve_group("root", &gid), 0);
        ck_assert_uint_eq(gid, 0);
        ck_assert_int_eq(resolve_group("nogroup", &gid), 0);
        ck_assert_uint_eq(gid, 65534);
        ck_assert_int_eq(resolve_group("4000000", &gid), 0);
        ck_assert_uint_eq(gid, 4000000);

        gid = 7;
        ck_assert_int_eq(resolve_group("no-such-group-strata", &gid), -ESRCH);
        ck_assert_int_eq(resolve_group("", &gid), -EINVAL);
        ck_assert_uint_eq(gid, 7);
}
END_TEST

START_TEST(test_sha256) {
        _cleanup_free_ char *dir = test_tmpdir(), *e = path_in(dir, "empty"),
                            *abc = path_in(dir, "abc"), *big = path_in(dir, "big"),
                            *million = malloc(1000000);
        char hex[65];

        test_write(e, "");
        ck_assert_int_eq(sha256_file_hex(e, hex), 0);
        ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

        test_write(abc, "abc");
        ck_assert_int_eq(sha256_file_hex(abc, hex), 0);
        ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        ck_assert_int_eq(sha256_hex("abc", 3, hex), 0);
        ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

        /* Larger than one read buffer: the FIPS 180-2 "one million a" vector. */
        ck_assert_ptr_nonnull(million);
        memset(million, 'a', 1000000);
        ck_assert_int_eq(write_file_atomic(big, million, 1000000, 0644, -1, -1), 0);
        ck_assert_int_eq(sha256_file_hex(big, hex), 0);
        ck_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

        ck_assert_int_eq(sha256_file_hex("/nonexistent/x", hex), -ENOENT);

        test_rmdir(dir);
}
END_TEST

/* Writes dir/name with a modification time `age` seconds ago. */
static void aged_file(const char *dir, const char *name, time_t age) {
        _cleanup_free_ char *p = strf("%s/%s", dir, name);
        struct timespec t[2];

        test_write(p, name);
        clock_gettime(CLOCK_REALTIME, &t[0]);
        t[0].tv_sec -= age;
        t[1] = t[0];
        ck_assert_int_eq(utimensat(AT_FDCWD, p, t, 0), 0);
}

static bool exists_in(const char *dir, const char *name) {
        _cleanup_free_ char *p = strf("%s/%s", dir, name);

        return access(p, F_OK) == 0;
}

START_TEST(test_prune_directory) {
        _cleanup_free_ char *dir = test_tmpdir();

        aged_file(dir, "a.json", 50);
        aged_file(dir, "b.json", 40);
        aged_file(dir, "c.json", 30);
        aged_file(dir, "d.json", 20);
        aged_file(dir, ".e.json", 90);
        /* The newest two stay; the hidden file (being written) is never touched. */
        ck_assert_int_eq(prune_directory(dir, 2, 0), 2);
        ck_assert(!exists_in(dir, "a.json"));
        ck_assert(!exists_in(dir, "b.json"));
        ck_assert(exists_in(dir, "c.json"));
        ck_assert(exists_in(dir, "d.json"));
        ck_assert(exists_in(dir, ".e.json"));
        ck_assert_int_eq(prune_directory(dir, 2, 0), 0);

        /* By age: 31 days is past a 30-day limit, 29 is not. */
        aged_file(dir, "old.json", 31 * 86400);
        aged_file(dir, "recent.json", 29 * 86400);
        ck_assert_int_eq(prune_directory(dir, 0, 30), 1);
        ck_assert(!exists_in(dir, "old.json"));
        ck_assert(exists_in(dir, "recent.json"));

        ck_assert_int_eq(prune_directory("/nonexistent/strata", 1, 1), 0);
        test_rmdir(dir);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("fs-util");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_read_full_file);
        tcase_add_test(tc, test_read_full_file_binary);
        tcase_add_test(tc, test_write_file_atomic);
        tcase_add_test(tc, test_write_file_atomic_setuid);
        tcase_add_test(tc, test_write_file_atomic_symlink);
        tcase_add_test(tc, test_write_file_atomic_errors);
        tcase_add_test(tc, test_mkdir_parents);
        tcase_add_test(tc, test_rm_rf);
        tcase_add_test(tc, test_rm_rf_top_symlink);
        tcase_add_test(tc, test_rm_rf_refuses_root);
        tcase_add_test(tc, test_rm_rf_mount_point);
        tcase_add_test(tc, test_rm_rf_bind_mount);
        tcase_add_test(tc, test_resolve_user);
        tcase_add_test(tc, test_resolve_group);
        tcase_add_test(tc, test_sha256);
        tcase_add_test(tc, test_prune_directory);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
