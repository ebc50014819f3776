/*
 * Path wrappers: a /sys path that names a registered namespace device is served from its
 * synthetic tree (sysfs.c); every other path goes to libc untouched. realpath() maps results
 * inside a tree back to their /sys form, so tools see the paths a kernel would give them.
 */
#include "zf.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

void *zf_real(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);
	if (!p) {
		static const char msg[] = "zonefuse-preload: a libc entry point is missing\n";
		ssize_t w = write(2, msg, sizeof(msg) - 1);
		(void)w;
		abort();
	}
	return p;
}

/* A path relative to a directory descriptor under /sys, made absolute. */
static const char *at_path(int dirfd, const char *path, char *buf, size_t len)
{
	if (!path || path[0] == '/' || dirfd == AT_FDCWD || !zf_sys_active())
		return path;
	char link[64], dir[PATH_MAX];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
	ssize_t n = syscall(SYS_readlinkat, AT_FDCWD, link, dir, sizeof(dir) - 1);
	if (n <= 0)
		return path;
	dir[n] = '\0';
	if (strncmp(dir, "/sys/", 5) != 0)
		return path;
	int k = snprintf(buf, len, "%s/%s", dir, path);
	return k > 0 && (size_t)k < len ? buf : path;
}

/* The path to hand to libc: the tree path for a redirected /sys path, else the original. */
static const char *route(int *dirfd, const char *path, char *out, size_t len)
{
	char abs[PATH_MAX];
	const char *p = at_path(*dirfd, path, abs, sizeof(abs));
	if (zf_sys_redirect(p, out, len)) {
		*dirfd = AT_FDCWD;
		return out;
	}
	return path;
}

static int has_mode(int flags)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

#define MODE_ARG(flags) \
	mode_t mode = 0; \
	if (has_mode(flags)) { va_list ap; va_start(ap, flags); mode = va_arg(ap, int); va_end(ap); }

typedef int (*openat_fn)(int, const char *, int, ...);

static int do_openat(const char *which, int dirfd, const char *path, int flags, mode_t mode)
{
	static openat_fn real_openat, real_openat64;
	openat_fn *slot = strcmp(which, "openat64") == 0 ? &real_openat64 : &real_openat;
	if (!*slot)
		*slot = (openat_fn)zf_real(which);
	char sys[PATH_MAX];
	path = route(&dirfd, path, sys, sizeof(sys));
	return (*slot)(dirfd, path, flags, mode);
}

int open(const char *path, int flags, ...) { MODE_ARG(flags); return do_openat("openat", AT_FDCWD, path, flags, mode); }
int open64(const char *path, int flags, ...) { MODE_ARG(flags); return do_openat("openat64", AT_FDCWD, path, flags, mode); }
int openat(int dirfd, const char *path, int flags, ...) { MODE_ARG(flags); return do_openat("openat", dirfd, path, flags, mode); }
int openat64(int dirfd, const char *path, int flags, ...) { MODE_ARG(flags); return do_openat("openat64", dirfd, path, flags, mode); }
/* _FORTIFY_SOURCE variants (called when the mode argument is absent). */
int __open_2(const char *path, int flags) { return do_openat("openat", AT_FDCWD, path, flags, 0); }
int __open64_2(const char *path, int flags) { return do_openat("openat64", AT_FDCWD, path, flags, 0); }
int __openat_2(int dirfd, const char *path, int flags) { return do_openat("openat", dirfd, path, flags, 0); }
int __openat64_2(int dirfd, const char *path, int flags) { return do_openat("openat64", dirfd, path, flags, 0); }

typedef FILE *(*fopen_fn)(const char *, const char *);

FILE *fopen(const char *path, const char *mode)
{
	ZF_REAL(fopen_fn, fopen);
	char sys[PATH_MAX];
	int d = AT_FDCWD;
	return real_fopen(route(&d, path, sys, sizeof(sys)), mode);
}

FILE *fopen64(const char *path, const char *mode)
{
	ZF_REAL(fopen_fn, fopen64);
	char sys[PATH_MAX];
	int d = AT_FDCWD;
	return real_fopen64(route(&d, path, sys, sizeof(sys)), mode);
}

typedef DIR *(*opendir_fn)(const char *);

DIR *opendir(const char *path)
{
	ZF_REAL(opendir_fn, opendir);
	char sys[PATH_MAX];
	int d = AT_FDCWD;
	return real_opendir(route(&d, path, sys, sizeof(sys)));
}

typedef int (*access_fn)(const char *, int);
typedef int (*faccessat_fn)(int, const char *, int, int);

int access(const char *path, int how)
{
	ZF_REAL(access_fn, access);
	char sys[PATH_MAX];
	int d = AT_FDCWD;
	return real_access(route(&d, path, sys, sizeof(sys)), how);
}

int faccessat(int dirfd, const char *path, int how, int flags)
{
	ZF_REAL(faccessat_fn, faccessat);
	char sys[PATH_MAX];
	path = route(&dirfd, path, sys, sizeof(sys));
	return real_faccessat(dirfd, path, how, flags);
}

typedef ssize_t (*readlinkat_fn)(int, const char *, char *, size_t);

ssize_t readlinkat(int dirfd, const char *path, char *buf, size_t len)
{
	ZF_REAL(readlinkat_fn, readlinkat);
	char sys[PATH_MAX];
	path = route(&dirfd, path, sys, sizeof(sys));
	return real_readlinkat(dirfd, path, buf, len);
}

ssize_t readlink(const char *path, char *buf, size_t len) { return readlinkat(AT_FDCWD, path, buf, len); }
ssize_t __readlink_chk(const char *path, char *buf, size_t len, size_t buflen) { (void)buflen; return readlinkat(AT_FDCWD, path, buf, len); }
ssize_t __readlinkat_chk(int dirfd, const char *path, char *buf, size_t len, size_t buflen) { (void)buflen; return readlinkat(dirfd, path, buf, len); }

typedef char *(*realpath_fn)(const char *, char *);

char *realpath(const char *path, char *resolved)
{
	ZF_REAL(realpath_fn, realpath);
	char sys[PATH_MAX];
	int d = AT_FDCWD;
	const char *p = route(&d, path, sys, sizeof(sys));
	if (p == path)
		return real_realpath(path, resolved);
	char tree[PATH_MAX], back[PATH_MAX];
	if (!real_realpath(p, tree))
		return NULL;
	const char *result = zf_sys_unredirect(tree, back, sizeof(back)) ? back : tree;
	if (!resolved) {
		char *copy = strdup(result);
		if (!copy)
			errno = ENOMEM;
		return copy;
	}
	strcpy(resolved, result);
	return resolved;
}

char *__realpath_chk(const char *path, char *resolved, size_t len) { (void)len; return realpath(path, resolved); }
char *canonicalize_file_name(const char *path) { return realpath(path, NULL); }
