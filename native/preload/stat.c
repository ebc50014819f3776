/*
 * The stat family: a namespace file reports S_IFBLK with the synthetic device number, size 0
 * (as stat shows a block device node) and the page-size I/O block; everything else is passed
 * through unchanged. /sys paths of registered namespaces are served from their trees.
 *
 * glibc ≥ 2.33 exports stat, fstat, lstat, fstatat and their *64 twins; older binaries call
 * __xstat, __fxstat, __lxstat, __fxstatat (and *64). On x86-64 struct stat and struct stat64
 * are the same layout. statx has its own structure.
 */
#include "zf.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/sysmacros.h>

static void as_block_device(struct stat *st, const struct zf_ns *ns)
{
	st->st_mode = (st->st_mode & 07777) | S_IFBLK;
	st->st_rdev = makedev(ZF_MAJOR, ns->minor);
	st->st_size = 0;
	st->st_blocks = 0;
	st->st_blksize = 4096;
}

/* After a successful stat of (dirfd, path) or of fd (path NULL). */
static void fixup(int dirfd, const char *path, struct stat *st)
{
	struct zf_ns ns;
	if (!S_ISREG(st->st_mode))
		return;
	if (path ? zf_ns_from_path(dirfd, path, st, &ns) : zf_ns_from_fd(dirfd, &ns))
		as_block_device(st, &ns);
}

typedef int (*fstatat_fn)(int, const char *, struct stat *, int);
typedef int (*fstat_fn)(int, struct stat *);
typedef int (*statx_fn)(int, const char *, int, unsigned int, struct statx *);

static int do_fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	ZF_REAL(fstatat_fn, fstatat);
	char sys[PATH_MAX];
	if (zf_sys_redirect(path, sys, sizeof(sys)))
		return real_fstatat(dirfd, sys, st, flags);
	int r = real_fstatat(dirfd, path, st, flags);
	if (r == 0)
		fixup(dirfd, path, st);
	return r;
}

static int do_fstat(int fd, struct stat *st)
{
	ZF_REAL(fstat_fn, fstat);
	int r = real_fstat(fd, st);
	if (r == 0)
		fixup(fd, NULL, st);
	return r;
}

int stat(const char *path, struct stat *st) { return do_fstatat(AT_FDCWD, path, st, 0); }
int stat64(const char *path, struct stat64 *st) { return do_fstatat(AT_FDCWD, path, (struct stat *)st, 0); }
int lstat(const char *path, struct stat *st) { return do_fstatat(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW); }
int lstat64(const char *path, struct stat64 *st) { return do_fstatat(AT_FDCWD, path, (struct stat *)st, AT_SYMLINK_NOFOLLOW); }
int fstat(int fd, struct stat *st) { return do_fstat(fd, st); }
int fstat64(int fd, struct stat64 *st) { return do_fstat(fd, (struct stat *)st); }
int fstatat(int dirfd, const char *path, struct stat *st, int flags) { return do_fstatat(dirfd, path, st, flags); }
int fstatat64(int dirfd, const char *path, struct stat64 *st, int flags) { return do_fstatat(dirfd, path, (struct stat *)st, flags); }

/* glibc's pre-2.33 entry points (version argument _STAT_VER, which on x86-64 is the kernel's layout). */
int __xstat(int ver, const char *path, struct stat *st) { (void)ver; return do_fstatat(AT_FDCWD, path, st, 0); }
int __xstat64(int ver, const char *path, struct stat64 *st) { (void)ver; return do_fstatat(AT_FDCWD, path, (struct stat *)st, 0); }
int __lxstat(int ver, const char *path, struct stat *st) { (void)ver; return do_fstatat(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW); }
int __lxstat64(int ver, const char *path, struct stat64 *st) { (void)ver; return do_fstatat(AT_FDCWD, path, (struct stat *)st, AT_SYMLINK_NOFOLLOW); }
int __fxstat(int ver, int fd, struct stat *st) { (void)ver; return do_fstat(fd, st); }
int __fxstat64(int ver, int fd, struct stat64 *st) { (void)ver; return do_fstat(fd, (struct stat *)st); }
int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags) { (void)ver; return do_fstatat(dirfd, path, st, flags); }
int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags) { (void)ver; return do_fstatat(dirfd, path, (struct stat *)st, flags); }

int statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *stx)
{
	ZF_REAL(statx_fn, statx);
	char sys[PATH_MAX];
	if (zf_sys_redirect(path, sys, sizeof(sys)))
		return real_statx(dirfd, sys, flags, mask, stx);
	int r = real_statx(dirfd, path, flags, mask, stx);
	if (r != 0 || !S_ISREG(stx->stx_mode) || stx->stx_dev_major != 0)
		return r;
	struct stat st;
	int saved = errno;
	struct zf_ns ns;
	int is_ns = 0;
	if (zf_raw_fstatat(dirfd, path, &st, (flags & (AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))) == 0)
		is_ns = *path ? zf_ns_from_path(dirfd, path, &st, &ns) : zf_ns_from_fd(dirfd, &ns);
	errno = saved;
	if (is_ns) {
		stx->stx_mode = (stx->stx_mode & 07777) | S_IFBLK;
		stx->stx_rdev_major = ZF_MAJOR;
		stx->stx_rdev_minor = ns.minor;
		stx->stx_size = 0;
		stx->stx_blocks = 0;
		stx->stx_blksize = 4096;
	}
	return r;
}
