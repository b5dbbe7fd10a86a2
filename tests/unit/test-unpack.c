/* SPDX-License-Identifier: MIT */
/* unpack: archives built here with libarchive's writer, good ones in every format and hostile
 * ones, unpacked into a destination that sits beside a sentinel directory nothing may reach. */

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>

#include "fs-util.h"
#include "server-git.h"
#include "str-util.h"
#include "test-helpers.h"
#include "unpack.h"

#define MTIME 1000000000
#define ZERO_CHUNK (1024U * 1024U)

typedef struct TestEntry {
        const char *path;
        mode_t type; /* AE_IFREG, AE_IFDIR, AE_IFLNK, AE_IFCHR, AE_IFBLK, AE_IFIFO; 0: a
                      * hardlink to `content` */
        mode_t perm;
        const char *content; /* a file's bytes, a link's target */
        uint64_t zeros;      /* a regular file of this many zero bytes instead */
} TestEntry;

static char *root, *dest, *sentinel;

static void setup(void) {
        root = test_tmpdir();
        dest = strf("%s/dest", root);
        sentinel = strf("%s/sentinel", root);
        ck_assert_int_eq(mkdir(dest, 0755), 0);
        ck_assert_int_eq(mkdir(sentinel, 0755), 0);
}

static void teardown(void) {
        test_rmdir(root);
        root = mfree(root);
        dest = mfree(dest);
        sentinel = mfree(sentinel);
}

/* Writes archive <root>/<name> in format (a libarchive format name) through filter ("none",
 * "gzip", ...). */
static char *make_archive(const char *name, const char *format, const char *filter,
                          const TestEntry *entries, size_t n) {
        static const char zeros[ZERO_CHUNK];
        struct archive *a = archive_write_new();
        char *path = strf("%s/%s", root, name);

        ck_assert_ptr_nonnull(a);
        ck_assert_int_eq(archive_write_set_format_by_name(a, format), ARCHIVE_OK);
        if (!streq(filter, "none"))
                ck_assert_int_eq(archive_write_add_filter_by_name(a, filter), ARCHIVE_OK);
        if (streq(filter, "gzip"))
                ck_assert_int_eq(
                        archive_write_set_filter_option(a, "gzip", "compression-level", "1"),
                        ARCHIVE_OK);
        ck_assert_int_eq(archive_write_open_filename(a, path), ARCHIVE_OK);

        for (size_t i = 0; i < n; i++) {
                const TestEntry *t = entries + i;
                struct archive_entry *e = archive_entry_new();
                uint64_t size = t->zeros ? t->zeros : (t->content ? strlen(t->content) : 0);

                archive_entry_set_pathname(e, t->path);
                archive_entry_set_mtime(e, MTIME, 0);
                archive_entry_set_uid(e, 1234);
                archive_entry_set_gid(e, 1234);
                if (t->type == 0) {
                        archive_entry_set_filetype(e, AE_IFREG);
                        archive_entry_set_perm(e, 0644);
                        archive_entry_set_hardlink(e, t->content);
                        archive_entry_set_size(e, 0);
                        ck_assert_int_eq(archive_write_header(a, e), ARCHIVE_OK);
                        archive_entry_free(e);
                        continue;
                }
                archive_entry_set_filetype(e, t->type);
                archive_entry_set_perm(e, t->perm ? t->perm : 0644);
                if (t->type == AE_IFLNK)
                        archive_entry_set_symlink(e, t->content);
                if (t->type == AE_IFCHR || t->type == AE_IFBLK)
                        archive_entry_set_rdev(e, makedev(1, 5));
                archive_entry_set_size(e, t->type == AE_IFREG ? (la_int64_t)size : 0);
                ck_assert_int_eq(archive_write_header(a, e), ARCHIVE_OK);
                if (t->type == AE_IFREG && t->zeros)
                        for (uint64_t left = size; left > 0;) {
                                size_t k = left < ZERO_CHUNK ? (size_t)left : ZERO_CHUNK;

                                ck_assert_int_eq(archive_write_data(a, zeros, k), (ssize_t)k);
                                left -= k;
                        }
                else if (t->type == AE_IFREG && size > 0)
                        ck_assert_int_eq(archive_write_data(a, t->content, size), (ssize_t)size);
                archive_entry_free(e);
        }
        ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
        return path;
}

static size_t count_entries(const char *dir) {
        DIR *d = opendir(dir);
        size_t n = 0;

        ck_assert_ptr_nonnull(d);
        for (struct dirent *de; (de = readdir(d));)
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

static char *dest_path(const char *rel) {
        char *p = strf("%s/%s", dest, rel);

        ck_assert_ptr_nonnull(p);
        return p;
}

static void assert_file(const char *rel, const char *content, mode_t mode) {
        _cleanup_free_ char *p = dest_path(rel);
        struct stat st;

        test_assert_file(p, content, mode, getuid(), getgid());
        ck_assert_int_eq(stat(p, &st), 0);
        ck_assert_int_eq(st.st_mtime, MTIME);
}

static void assert_dir(const char *rel, mode_t mode, size_t n_entries) {
        _cleanup_free_ char *p = dest_path(rel);
        struct stat st;

        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert_msg(S_ISDIR(st.st_mode), "%s is not a directory", p);
        ck_assert_int_eq(st.st_mode & 07777, mode);
        ck_assert_int_eq(st.st_uid, getuid());
        ck_assert_int_eq(count_entries(p), n_entries);
}

static void assert_symlink(const char *rel, const char *target) {
        _cleanup_free_ char *p = dest_path(rel);
        char buf[256];
        ssize_t n;

        n = readlink(p, buf, sizeof(buf) - 1);
        ck_assert_int_ge(n, 0);
        buf[n] = 0;
        ck_assert_str_eq(buf, target);
}

/* Unpacks and expects exactly `error`; dest must be empty again, the sentinel untouched, and
 * nothing but dest, sentinel and the archive in root. */
static void expect_refused(const char *archive, const UnpackLimits *limits, int expect_r,
                           const char *error) {
        _cleanup_free_ char *e = NULL;
        int r;

        r = unpack_archive(archive, "app.tar.gz", dest, limits, &e);
        ck_assert_int_eq(r, expect_r);
        ck_assert_ptr_nonnull(e);
        ck_assert_str_eq(e, error);
        ck_assert_int_eq(count_entries(dest), 0);
        ck_assert_int_eq(count_entries(sentinel), 0);
        ck_assert_int_eq(count_entries(root), 3);
        ck_assert_int_eq(unlink(archive), 0);
}

static const struct {
        const char *format, *filter, *name;
} formats[] = {
        {"ustar", "none", "app.tar"},       {"pax", "gzip", "app.tar.gz"},
        {"gnutar", "bzip2", "app.tar.bz2"}, {"pax", "xz", "app.tar.xz"},
        {"zip", "none", "app.zip"},
};

START_TEST(test_good_every_format) {
        bool zip = streq(formats[_i].format, "zip");
        const TestEntry entries[] = {
                {"README", AE_IFREG, 0644, "hello\n"},
                {"bin/", AE_IFDIR, 0750},
                {"bin/run", AE_IFREG, 04755, "#!/bin/sh\necho run\n"},
                {"bin/tool", AE_IFREG, 02711, "tool\n"},
                {"data/empty", AE_IFREG, 0600, ""},
                {"shared/", AE_IFDIR, 01777},
                {"link", AE_IFLNK, 0777, "bin/run"},
                {"bin/up", AE_IFLNK, 0777, "../README"},
                /* zip has no hardlinks */
                {zip ? "bin/run3" : "bin/run2", zip ? AE_IFREG : 0, 0755,
                 zip ? "three\n" : "bin/run"},
        };
        _cleanup_free_ char *archive = NULL, *e = NULL;

        archive = make_archive(formats[_i].name, formats[_i].format, formats[_i].filter, entries,
                               ELEMENTSOF(entries));
        ck_assert_int_eq(unpack_archive(archive, NULL, dest, NULL, &e), 0);
        ck_assert_ptr_null(e);

        ck_assert_int_eq(count_entries(dest), 5);
        assert_file("README", "hello\n", 0644);
        assert_dir("bin", 0750, 4);
        assert_file("bin/run", "#!/bin/sh\necho run\n", 0755);
        assert_file("bin/tool", "tool\n", 0711);
        assert_dir("data", 0755, 1);
        assert_file("data/empty", "", 0600);
        assert_dir("shared", 0777, 0);
        assert_symlink("link", "bin/run");
        assert_symlink("bin/up", "../README");
        if (zip)
                assert_file("bin/run3", "three\n", 0755);
        else {
                _cleanup_free_ char *a = dest_path("bin/run"), *b = dest_path("bin/run2");
                struct stat sa, sb;

                ck_assert_int_eq(stat(a, &sa), 0);
                ck_assert_int_eq(stat(b, &sb), 0);
                ck_assert_int_eq(sa.st_ino, sb.st_ino);
        }
}
END_TEST

START_TEST(test_single_top_stripped) {
        bool zip = streq(formats[_i].format, "zip");
        const TestEntry entries[] = {
                {"./proj-1.0/", AE_IFDIR, 0555},
                {"./proj-1.0/README", AE_IFREG, 0644, "readme\n"},
                {"./proj-1.0/src/main.c", AE_IFREG, 0640, "int main;\n"},
                {"./proj-1.0/proj-1.0/inner", AE_IFREG, 0644, "same name\n"},
                {"./proj-1.0/l", AE_IFLNK, 0777, "src/main.c"},
        };
        _cleanup_free_ char *archive = NULL, *e = NULL;

        archive = make_archive(formats[_i].name, zip ? "zip" : "pax", formats[_i].filter, entries,
                               ELEMENTSOF(entries));
        ck_assert_int_eq(unpack_archive(archive, NULL, dest, NULL, &e), 0);
        ck_assert_ptr_null(e);

        ck_assert_int_eq(count_entries(dest), 4);
        assert_file("README", "readme\n", 0644);
        assert_file("src/main.c", "int main;\n", 0640);
        assert_file("proj-1.0/inner", "same name\n", 0644);
        assert_symlink("l", "src/main.c");
}
END_TEST

START_TEST(test_two_tops_kept) {
        const TestEntry entries[] = {
                {"a/x", AE_IFREG, 0644, "x\n"},
                {"b/y", AE_IFREG, 0644, "y\n"},
        };
        _cleanup_free_ char *archive = make_archive("two.tar", "pax", "none", entries, 2);

        ck_assert_int_eq(unpack_archive(archive, NULL, dest, NULL, NULL), 0);
        ck_assert_int_eq(count_entries(dest), 2);
        assert_file("a/x", "x\n", 0644);
        assert_file("b/y", "y\n", 0644);
}
END_TEST

START_TEST(test_top_file_kept) {
        const TestEntry entries[] = {
                {"notes.txt", AE_IFREG, 0644, "notes\n"},
        };
        _cleanup_free_ char *archive = make_archive("file.tar", "pax", "none", entries, 1);

        /* One file at the top: it stays, nothing to strip. */
        ck_assert_int_eq(unpack_archive(archive, NULL, dest, NULL, NULL), 0);
        ck_assert_int_eq(count_entries(dest), 1);
        assert_file("notes.txt", "notes\n", 0644);
}
END_TEST

/* The tarball GitHub serves: `git archive` with a prefix, a pax global header first. */
START_TEST(test_git_archive_tarball) {
        _cleanup_free_ char *repo = strf("%s/repo", root), *archive = strf("%s/gh.tar.gz", root);
        _cleanup_free_ char *file = strf("%s/repo/src/app.c", root), *out = NULL;
        struct stat st;

        test_write(file, "app\n");
        free(git_server_git(root, "init", "-q", "-b", "main", repo, NULL));
        free(git_server_git(repo, "add", ".", NULL));
        free(git_server_git(repo, "commit", "-q", "-m", "one", NULL));
        free(git_server_git(repo, "archive", "--format=tar.gz", "--prefix=owner-repo-0123abc/",
                            "-o", archive, "HEAD", NULL));
        test_rmdir(repo);

        ck_assert_int_eq(unpack_archive(archive, NULL, dest, NULL, NULL), 0);
        ck_assert_int_eq(count_entries(dest), 1);
        out = dest_path("src/app.c");
        test_assert_file(out, "app\n", 0664 & ~(mode_t)0, getuid(), getgid());
        ck_assert_int_eq(stat(out, &st), 0);
}
END_TEST

#define OK_FIRST                                                                                   \
        { "ok/first.txt", AE_IFREG, 0644, "written before the bad entry\n" }

/* Builds app.tar.gz from the entries and expects it refused with exactly `error`. */
static void refuse(const TestEntry *entries, size_t n, const UnpackLimits *limits, int expect_r,
                   const char *error) {
        _cleanup_free_ char *a = make_archive("app.tar.gz", "pax", "gzip", entries, n);

        expect_refused(a, limits, expect_r, error);
}

START_TEST(test_dotdot) {
        const TestEntry entries[] = {OK_FIRST, {"../sentinel/evil", AE_IFREG, 0644, "x"}};
        const TestEntry inner[] = {OK_FIRST, {"a/../../sentinel/evil", AE_IFREG, 0644, "x"}};
        const TestEntry hidden[] = {OK_FIRST, {"a/b/../c/../../..", AE_IFREG, 0644, "x"}};

        refuse(entries, 2, NULL, -EBADMSG,
               "app.tar.gz: entry '../sentinel/evil': path escapes the release");
        refuse(inner, 2, NULL, -EBADMSG,
               "app.tar.gz: entry 'a/../../sentinel/evil': path escapes the release");
        refuse(hidden, 2, NULL, -EBADMSG,
               "app.tar.gz: entry 'a/b/../c/../../..': path escapes the release");
}
END_TEST

/* dest and the archive given relative to the working directory, which is the same after. */
START_TEST(test_relative_paths) {
        const TestEntry bad[] = {OK_FIRST, {"../evil", AE_IFREG, 0644, "x"}};
        const TestEntry good[] = {OK_FIRST};
        _cleanup_free_ char *a = make_archive("bad.tar", "pax", "none", bad, 2);
        _cleanup_free_ char *b = make_archive("good.tar", "pax", "none", good, 1);
        _cleanup_free_ char *e = NULL, *cwd = NULL;

        ck_assert_int_eq(chdir(root), 0);
        ck_assert_int_eq(unpack_archive("bad.tar", NULL, "dest", NULL, &e), -EBADMSG);
        ck_assert_str_eq(e, "bad.tar: entry '../evil': path escapes the release");
        ck_assert_int_eq(count_entries(dest), 0);
        ck_assert_int_eq(unpack_archive("good.tar", NULL, "dest", NULL, NULL), 0);
        assert_file("first.txt", "written before the bad entry\n", 0644);
        cwd = get_current_dir_name();
        ck_assert_str_eq(cwd, root);
        ck_assert_int_eq(chdir("/"), 0);
}
END_TEST

START_TEST(test_absolute) {
        _cleanup_free_ char *evil = strf("%s/evil", sentinel);
        _cleanup_free_ char *error = strf("app.tar.gz: entry '%s': absolute path", evil);
        const TestEntry entries[] = {OK_FIRST, {evil, AE_IFREG, 0644, "x"}};

        refuse(entries, 2, NULL, -EBADMSG, error);
}
END_TEST

START_TEST(test_symlink_out) {
        const TestEntry relative[] = {
                OK_FIRST,
                {"out", AE_IFLNK, 0777, "../sentinel"},
                {"out/evil", AE_IFREG, 0644, "x"},
        };
        const TestEntry absolute[] = {
                OK_FIRST,
                {"ok/out", AE_IFLNK, 0777, sentinel},
                {"ok/out/evil", AE_IFREG, 0644, "x"},
        };

        refuse(relative, 3, NULL, -EBADMSG,
               "app.tar.gz: entry 'out': symlink points out of the release");
        refuse(absolute, 3, NULL, -EBADMSG,
               "app.tar.gz: entry 'ok/out': symlink points out of the release");
}
END_TEST

/* Each link looks harmless alone; together they lead out. */
START_TEST(test_symlink_chain_out) {
        const TestEntry entries[] = {
                OK_FIRST,
                {"d/", AE_IFDIR, 0755},
                {"l2", AE_IFLNK, 0777, "d/l1/../sentinel"},
                {"d/l1", AE_IFLNK, 0777, ".."},
        };

        refuse(entries, 4, NULL, -EBADMSG,
               "app.tar.gz: entry 'l2': symlink points out of the release");
}
END_TEST

/* Inside the tree, but once the top directory is stripped "../x" would leave it. */
START_TEST(test_symlink_out_of_stripped_top) {
        const TestEntry entries[] = {
                {"top/", AE_IFDIR, 0755},
                {"top/a", AE_IFREG, 0644, "a\n"},
                {"top/up", AE_IFLNK, 0777, "../top/a"},
        };

        refuse(entries, 3, NULL, -EBADMSG,
               "app.tar.gz: entry 'top/up': symlink points out of the release");
}
END_TEST

START_TEST(test_write_through_symlink) {
        const TestEntry entries[] = {
                OK_FIRST,
                {"sub/", AE_IFDIR, 0755},
                {"inner", AE_IFLNK, 0777, "sub"},
                {"inner/file", AE_IFREG, 0644, "x"},
        };

        refuse(entries, 4, NULL, -EBADMSG,
               "app.tar.gz: entry 'inner/file': would be written through the symlink 'inner'");
}
END_TEST

START_TEST(test_hardlinks) {
        _cleanup_free_ char *abs = strf("%s/x", sentinel);
        _cleanup_free_ char *abs_error =
                strf("app.tar.gz: entry 'h': hardlink to '%s' points out of the release", abs);
        const TestEntry out[] = {OK_FIRST, {"h", 0, 0, "../sentinel/x"}};
        const TestEntry absolute[] = {OK_FIRST, {"h", 0, 0, abs}};
        const TestEntry missing[] = {
                OK_FIRST, {"h", 0, 0, "later"}, {"later", AE_IFREG, 0644, "x"}};
        const TestEntry to_dir[] = {OK_FIRST, {"h", 0, 0, "ok"}};
        const TestEntry through[] = {
                OK_FIRST,
                {"l", AE_IFLNK, 0777, "ok"},
                {"h", 0, 0, "l/first.txt"},
        };

        refuse(out, 2, NULL, -EBADMSG,
               "app.tar.gz: entry 'h': hardlink to '../sentinel/x' points out of the release");
        refuse(absolute, 2, NULL, -EBADMSG, abs_error);
        refuse(missing, 3, NULL, -EBADMSG,
               "app.tar.gz: entry 'h': hardlink to 'later', which is not a file unpacked "
               "before it");
        refuse(to_dir, 2, NULL, -EBADMSG,
               "app.tar.gz: entry 'h': hardlink to 'ok', which is not a file unpacked before it");
        refuse(through, 3, NULL, -EBADMSG,
               "app.tar.gz: entry 'h': hardlink to 'l/first.txt' goes through the symlink 'l'");
}
END_TEST

START_TEST(test_special_files) {
        const TestEntry chr[] = {OK_FIRST, {"dev/null2", AE_IFCHR, 0666}};
        const TestEntry blk[] = {OK_FIRST, {"dev/sda9", AE_IFBLK, 0660}};
        const TestEntry fifo[] = {OK_FIRST, {"run/pipe", AE_IFIFO, 0600}};

        refuse(chr, 2, NULL, -EBADMSG,
               "app.tar.gz: entry 'dev/null2': device nodes are not allowed");
        refuse(blk, 2, NULL, -EBADMSG,
               "app.tar.gz: entry 'dev/sda9': device nodes are not allowed");
        refuse(fifo, 2, NULL, -EBADMSG, "app.tar.gz: entry 'run/pipe': fifos are not allowed");
}
END_TEST

START_TEST(test_too_many_entries) {
        _cleanup_free_ TestEntry *entries = calloc(10000, sizeof(TestEntry));
        _cleanup_strv_free_ char **names = NULL;

        ck_assert_ptr_nonnull(entries);
        for (unsigned i = 0; i < 10000; i++) {
                ck_assert_int_eq(strv_push(&names, strf("f/%05u", i)), 0);
                entries[i] = (TestEntry){names[i], AE_IFREG, 0644, ""};
        }
        refuse(entries, 10000, NULL, -EFBIG,
               "app.tar.gz: entry 'f/05000': the archive has more than 5000 entries");
}
END_TEST

START_TEST(test_too_big) {
        UnpackLimits limits = UNPACK_LIMITS_DEFAULT;
        const TestEntry entries[] = {
                OK_FIRST,
                {"big", AE_IFREG, 0644, NULL, 4096},
        };

        limits.max_size = 4000;
        refuse(entries, 2, &limits, -EFBIG,
               "app.tar.gz: entry 'big': the archive unpacks to more than 4000 bytes");
}
END_TEST

/* data as one gzip member (libarchive's raw format writes just the data), in a buffer of
 * *ret_len bytes for the caller to free. */
static void *gzip_member(const void *data, size_t size, size_t *ret_len) {
        struct archive *a = archive_write_new();
        struct archive_entry *e = archive_entry_new();
        size_t max = size + 4096;
        void *buf = malloc(max);

        ck_assert_ptr_nonnull(buf);
        ck_assert_int_eq(archive_write_set_format_raw(a), ARCHIVE_OK);
        ck_assert_int_eq(archive_write_add_filter_gzip(a), ARCHIVE_OK);
        ck_assert_int_eq(archive_write_set_filter_option(a, "gzip", "compression-level", "9"),
                         ARCHIVE_OK);
        /* No padding after the member: the next one must follow at once. */
        ck_assert_int_eq(archive_write_set_bytes_in_last_block(a, 1), ARCHIVE_OK);
        ck_assert_int_eq(archive_write_open_memory(a, buf, max, ret_len), ARCHIVE_OK);
        archive_entry_set_pathname(e, "data");
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_size(e, (la_int64_t)size);
        ck_assert_int_eq(archive_write_header(a, e), ARCHIVE_OK);
        ck_assert_int_eq(archive_write_data(a, data, size), (ssize_t)size);
        ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
        archive_entry_free(e);
        return buf;
}

static void write_member(FILE *f, const void *data, size_t size) {
        _cleanup_free_ void *m = NULL;
        size_t len;

        m = gzip_member(data, size, &len);
        ck_assert_uint_eq(fwrite(m, 1, len, f), len);
}

/* The ustar header of a regular file `name` of `size` bytes, mode 0644. */
static void tar_header(const char *name, uint64_t size, char ret[static 512]) {
        unsigned sum = 0;

        memset(ret, 0, 512);
        ck_assert_uint_lt(strlen(name), 100);
        memcpy(ret, name, strlen(name));
        snprintf(ret + 100, 8, "%07o", 0644);
        snprintf(ret + 108, 8, "%07o", 0);
        snprintf(ret + 116, 8, "%07o", 0);
        snprintf(ret + 124, 12, "%011" PRIo64, size);
        snprintf(ret + 136, 12, "%011o", MTIME);
        ret[156] = '0';
        memcpy(ret + 257, "ustar", 6);
        memcpy(ret + 263, "00", 2);
        /* The checksum counts its own field as spaces. */
        memset(ret + 148, ' ', 8);
        for (size_t k = 0; k < 512; k++)
                sum += (unsigned char)ret[k];
        snprintf(ret + 148, 8, "%06o", sum);
}

/* The number s starts with, up to a space. */
static uint64_t leading_number(const char *s) {
        _cleanup_free_ char *digits = strndup(s, strcspn(s, " "));
        int64_t v;

        ck_assert_ptr_nonnull(digits);
        ck_assert_int_eq(parse_int64(digits, &v), 0);
        ck_assert_int_ge(v, 0);
        return (uint64_t)v;
}

/* Refused at `prefix`, after writing less than `max_written` bytes. */
static void assert_bomb_refused(const char *archive, const char *prefix, uint64_t max_written) {
        _cleanup_free_ char *e = NULL;
        struct timespec t0, t1;
        uint64_t written;
        int r;

        ck_assert_int_eq(clock_gettime(CLOCK_MONOTONIC, &t0), 0);
        r = unpack_archive(archive, NULL, dest, NULL, &e);
        ck_assert_int_eq(clock_gettime(CLOCK_MONOTONIC, &t1), 0);

        ck_assert_msg(r == -EFBIG && startswith(e, prefix), "%d %s", r, e);
        written = leading_number(e + strlen(prefix));
        ck_assert_uint_lt(written, max_written);
        ck_assert_int_eq(count_entries(dest), 0);
        if (!getenv("STRATA_UNDER_VALGRIND"))
                ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 10);
}

/* A tar.gz of one 1 GiB file of zeros, in about a megabyte: gzip members of a mebibyte of zeros
 * each, one after the other, as gzip allows. */
START_TEST(test_zip_bomb) {
        static const char zeros[ZERO_CHUNK];
        _cleanup_free_ char *a = strf("%s/bomb.tar.gz", root);
        _cleanup_free_ void *member = NULL;
        char header[512];
        size_t len;
        FILE *f;

        tar_header("zeros", UINT64_C(1) << 30, header);
        f = fopen(a, "we");
        ck_assert_ptr_nonnull(f);
        write_member(f, header, sizeof(header));
        member = gzip_member(zeros, ZERO_CHUNK, &len);
        for (unsigned i = 0; i < 1024; i++)
                ck_assert_uint_eq(fwrite(member, 1, len, f), len);
        write_member(f, zeros, 1024);
        ck_assert_int_eq(fclose(f), 0);

        assert_bomb_refused(a,
                            "bomb.tar.gz: entry 'zeros': the archive expands more than 200 "
                            "times (",
                            UINT64_C(16) << 20);
}
END_TEST

START_TEST(test_zip_bomb_zip) {
        const TestEntry entries[] = {
                OK_FIRST,
                {"zeros", AE_IFREG, 0644, NULL, UINT64_C(16) << 20},
        };
        _cleanup_free_ char *a = make_archive("bomb.zip", "zip", "none", entries, 2);

        assert_bomb_refused(a,
                            "bomb.zip: entry 'zeros': the archive expands more than 200 "
                            "times (",
                            UINT64_C(8) << 20);
}
END_TEST

START_TEST(test_not_an_archive) {
        _cleanup_free_ char *a = strf("%s/junk.tar.gz", root), *e = NULL;

        test_write(a, "<html>Not Found</html>\n");
        ck_assert_int_eq(unpack_archive(a, NULL, dest, NULL, &e), -EBADMSG);
        ck_assert_str_eq(e, "junk.tar.gz: Unrecognized archive format");
        ck_assert_int_eq(count_entries(dest), 0);
}
END_TEST

START_TEST(test_truncated) {
        const TestEntry entries[] = {
                OK_FIRST,
                {"data", AE_IFREG, 0644, NULL, 200000},
        };
        _cleanup_free_ char *a = make_archive("cut.tar", "pax", "none", entries, 2), *e = NULL;

        ck_assert_int_eq(truncate(a, 100000), 0);
        ck_assert_int_eq(unpack_archive(a, NULL, dest, NULL, &e), -EBADMSG);
        ck_assert_str_eq(e, "cut.tar: entry 'data': Truncated tar archive");
        ck_assert_int_eq(count_entries(dest), 0);
}
END_TEST

START_TEST(test_dest_not_empty) {
        const TestEntry entries[] = {OK_FIRST};
        _cleanup_free_ char *a = make_archive("app.tar", "pax", "none", entries, 1), *e = NULL;
        _cleanup_free_ char *mine = dest_path("mine"), *error = NULL;

        test_write(mine, "keep\n");
        error = strf("app.tar: %s is not empty", dest);
        ck_assert_int_eq(unpack_archive(a, NULL, dest, NULL, &e), -ENOTEMPTY);
        ck_assert_str_eq(e, error);
        test_assert_file(mine, "keep\n", 0644, getuid(), getgid());
        ck_assert_int_eq(count_entries(dest), 1);
}
END_TEST

/* The fetch helper is unprivileged: a refused archive holding read-only directories must still
 * leave dest empty, and owners it claims are not restored. */
START_TEST(test_unprivileged) {
        const TestEntry entries[] = {
                {"ro/", AE_IFDIR, 0555},
                {"ro/sub/", AE_IFDIR, 0500},
                {"ro/sub/f", AE_IFREG, 0444, "f\n"},
                {"x/../../evil", AE_IFREG, 0644, "x"},
        };
        _cleanup_free_ char *a = make_archive("app.tar.gz", "pax", "gzip", entries, 4);
        uid_t uid = test_user_uid();
        _cleanup_free_ char *got = NULL;
        int fds[2];
        pid_t pid;

        ck_assert_int_eq(chown(dest, uid, (gid_t)-1), 0);
        ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                _cleanup_free_ char *e = NULL;

                /* The result goes through the pipe: under valgrind the exit status of a child
                 * is valgrind's. */
                if (setgroups(0, NULL) < 0 ||
                    setresgid(test_nogroup_gid(), test_nogroup_gid(), test_nogroup_gid()) < 0 ||
                    setresuid(uid, uid, uid) < 0)
                        e = strdup("cannot drop privileges");
                else if (unpack_archive(a, NULL, dest, NULL, &e) != -EBADMSG)
                        e = mfree(e);
                (void)!write(fds[1], strempty(e), strlen(strempty(e)));
                _exit(0);
        }
        close(fds[1]);
        ck_assert_int_eq(read_full_fd(fds[0], 4096, &got, NULL), 0);
        close(fds[0]);
        ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
        ck_assert_str_eq(got, "app.tar.gz: entry 'x/../../evil': path escapes the release");
        ck_assert_int_eq(count_entries(dest), 0);
}
END_TEST

static Suite *unpack_suite(void) {
        Suite *s = suite_create("unpack");
        TCase *tc = tcase_create("unpack");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_loop_test(tc, test_good_every_format, 0, ELEMENTSOF(formats));
        tcase_add_loop_test(tc, test_single_top_stripped, 0, ELEMENTSOF(formats));
        tcase_add_test(tc, test_two_tops_kept);
        tcase_add_test(tc, test_top_file_kept);
        tcase_add_test(tc, test_git_archive_tarball);
        tcase_add_test(tc, test_dotdot);
        tcase_add_test(tc, test_relative_paths);
        tcase_add_test(tc, test_absolute);
        tcase_add_test(tc, test_symlink_out);
        tcase_add_test(tc, test_symlink_chain_out);
        tcase_add_test(tc, test_symlink_out_of_stripped_top);
        tcase_add_test(tc, test_write_through_symlink);
        tcase_add_test(tc, test_hardlinks);
        tcase_add_test(tc, test_special_files);
        tcase_add_test(tc, test_too_many_entries);
        tcase_add_test(tc, test_too_big);
        tcase_add_test(tc, test_zip_bomb);
        tcase_add_test(tc, test_zip_bomb_zip);
        tcase_add_test(tc, test_not_an_archive);
        tcase_add_test(tc, test_truncated);
        tcase_add_test(tc, test_dest_not_empty);
        tcase_add_test(tc, test_unprivileged);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(unpack_suite());
}
