/*
 * Recognising zonefuse namespace files and talking to their mount.
 *
 * A regular file is a namespace file when it lives on a FUSE file system and the mount serves
 * `<file>.zones/zones.bin` beside it with a valid header whose capacity is the file's size. Every
 * answer is read from the mount when it is asked for (nothing is cached that another process
 * could change); zone commands are written to `<file>.zones/ctl`, so the daemon stays the one
 * owner of zone state. Internal file access uses raw system calls, never our own wrappers.
 */
#include "zf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define FUSE_SUPER_MAGIC 0x65735546

static int debug_level = -1;

int zf_debug_enabled(void)
{
	if (debug_level < 0) {
		const char *v = getenv("ZONEFUSE_PRELOAD_DEBUG");
		debug_level = v && *v && strcmp(v, "0") != 0;
	}
	return debug_level;
}

void zf_debug(const char *fmt, ...)
{
	if (!zf_debug_enabled())
		return;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* write(2): stdio could recurse into our wrappers or interleave with the tool's output. */
	ssize_t w = write(2, line, n);
	(void)w;
}

int zf_raw_fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	return syscall(SYS_newfstatat, dirfd, path, st, flags);
}

static int raw_open(const char *path, int flags)
{
	return syscall(SYS_openat, AT_FDCWD, path, flags | O_CLOEXEC, 0);
}

static ssize_t raw_readlink(const char *path, char *buf, size_t len)
{
	return syscall(SYS_readlinkat, AT_FDCWD, path, buf, len);
}

uint64_t zf_capacity_bytes(const struct zf_header *h)
{
	return (uint64_t)h->nr_zones * h->zone_lbas * h->lba_size;
}

static uint16_t le16(const unsigned char *p) { return p[0] | p[1] << 8; }
static uint32_t le32(const unsigned char *p) { return le16(p) | (uint32_t)le16(p + 2) << 16; }
static uint64_t le64(const unsigned char *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

static int join(char *out, size_t len, const char *a, const char *b)
{
	int n = snprintf(out, len, "%s%s", a, b);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int parse_header(const unsigned char *b, struct zf_header *h)
{
	if (memcmp(b, "ZFZB", 4) != 0 || le16(b + 4) != 1)
		return -1;
	h->header_size = le16(b + 6);
	h->record_size = le16(b + 8);
	h->nr_zones = le32(b + 12);
	h->lba_size = le32(b + 16);
	h->max_open = le32(b + 20);
	h->max_active = le32(b + 24);
	h->open_now = le32(b + 28);
	h->active_now = le32(b + 32);
	h->zasl_bytes = le32(b + 36);
	h->zone_lbas = le64(b + 40);
	h->generation = le64(b + 48);
	h->conv_zones = le32(b + 56);
	if (h->header_size < 64 || h->record_size < 48 || !h->nr_zones || !h->zone_lbas ||
	    h->lba_size < 512 || (h->lba_size & (h->lba_size - 1)))
		return -1;
	return 0;
}

static int read_header(const char *nspath, struct zf_header *h)
{
	char p[PATH_MAX];
	unsigned char b[64];
	if (join(p, sizeof(p), nspath, ".zones/zones.bin"))
		return -1;
	int fd = raw_open(p, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = pread(fd, b, sizeof(b), 0);
	int saved = errno;
	close(fd);
	errno = saved;
	if (n != (ssize_t)sizeof(b))
		return -1;
	return parse_header(b, h);
}

/* abs: the file's absolute path; st: its stat. */
static int ns_from_abs(const char *abs, const struct stat *st, struct zf_ns *ns)
{
	struct statfs sfs;
	if (statfs(abs, &sfs) != 0 || sfs.f_type != FUSE_SUPER_MAGIC)
		return 0;
	if (read_header(abs, &ns->hdr) != 0)
		return 0;
	if (zf_capacity_bytes(&ns->hdr) != (uint64_t)st->st_size)
		return 0;
	if (strlen(abs) >= sizeof(ns->path))
		return 0;
	strcpy(ns->path, abs);
	const char *slash = strrchr(abs, '/');
	const char *base = slash ? slash + 1 : abs;
	if (!*base || strlen(base) > NAME_MAX)
		return 0;
	strcpy(ns->name, base);
	ns->fsdev = st->st_dev;
	ns->ino = st->st_ino;
	zf_sysfs_register(ns);
	return 1;
}

/* Could this stat be a namespace file? (cheap test before any I/O) */
static int candidate(const struct stat *st)
{
	/* FUSE mounts have anonymous device numbers (major 0). */
	return S_ISREG(st->st_mode) && major(st->st_dev) == 0;
}

static int fd_path(int fd, char *out, size_t len)
{
	char link[64];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = raw_readlink(link, out, len - 1);
	if (n <= 0 || out[0] != '/')
		return -1;
	out[n] = '\0';
	return 0;
}

static int on_fuse_fd(int fd)
{
	struct statfs sfs;
	return fstatfs(fd, &sfs) == 0 && sfs.f_type == FUSE_SUPER_MAGIC;
}

int zf_ns_from_fd(int fd, struct zf_ns *ns)
{
	struct stat st;
	char abs[PATH_MAX];
	int saved = errno;
	int r = 0;
	if (zf_raw_fstatat(fd, "", &st, AT_EMPTY_PATH) == 0 && candidate(&st) && on_fuse_fd(fd) &&
	    fd_path(fd, abs, sizeof(abs)) == 0)
		r = ns_from_abs(abs, &st, ns);
	errno = saved;
	return r;
}

/*
 * Is (dirfd, path), whose stat the caller already has, a namespace file? The path is resolved
 * through an O_PATH descriptor (no FUSE open, symlinks followed as stat followed them).
 */
int zf_ns_from_path(int dirfd, const char *path, const struct stat *st, struct zf_ns *ns)
{
	if (!candidate(st))
		return 0;
	if (!path || !*path)
		return zf_ns_from_fd(dirfd, ns);
	int saved = errno;
	int r = 0;
	struct statfs sfs;
	/* Most candidates (tmpfs, overlayfs: major 0 too) end here, at one statfs. */
	if ((path[0] == '/' || dirfd == AT_FDCWD) && (statfs(path, &sfs) != 0 || sfs.f_type != FUSE_SUPER_MAGIC)) {
		errno = saved;
		return 0;
	}
	int fd = syscall(SYS_openat, dirfd, path, O_PATH | O_CLOEXEC, 0);
	if (fd >= 0) {
		char abs[PATH_MAX];
		if (fd_path(fd, abs, sizeof(abs)) == 0)
			r = ns_from_abs(abs, st, ns);
		close(fd);
	}
	errno = saved;
	return r;
}

/* Records [first, first+count) into out; 0 or -errno. */
int zf_read_zones(const struct zf_ns *ns, uint32_t first, uint32_t count, struct zf_zone *out)
{
	char p[PATH_MAX];
	if (join(p, sizeof(p), ns->path, ".zones/zones.bin"))
		return -ENAMETOOLONG;
	const size_t rs = ns->hdr.record_size;
	const size_t chunk = 4096;
	unsigned char *buf = malloc(rs * (count < chunk ? count : chunk));
	if (!buf)
		return -ENOMEM;
	int fd = raw_open(p, O_RDONLY);
	if (fd < 0) {
		free(buf);
		return -EIO;
	}
	int r = 0;
	for (uint32_t done = 0; done < count && r == 0;) {
		uint32_t n = count - done < chunk ? count - done : chunk;
		off_t at = ns->hdr.header_size + (off_t)(first + done) * rs;
		size_t want = n * rs, got = 0;
		while (got < want) {
			ssize_t k = pread(fd, buf + got, want - got, at + got);
			if (k <= 0) {
				r = -EIO;
				break;
			}
			got += k;
		}
		for (uint32_t i = 0; i < n && r == 0; i++) {
			const unsigned char *b = buf + i * rs;
			struct zf_zone *z = &out[done + i];
			z->start = le64(b);
			z->wp = le64(b + 8);
			z->capacity = le64(b + 16);
			z->type = b[40];
			z->state = b[41];
			z->attrs = b[42];
			z->flags = b[43];
		}
		done += n;
	}
	close(fd);
	free(buf);
	return r;
}

int zf_ctl_open(const struct zf_ns *ns)
{
	char p[PATH_MAX];
	if (join(p, sizeof(p), ns->path, ".zones/ctl"))
		return -ENAMETOOLONG;
	int fd = raw_open(p, O_WRONLY);
	return fd < 0 ? -errno : fd;
}

/* One command line; 0 or -errno (the device's refusal, as the mount reports it). */
int zf_ctl_send(int ctlfd, const char *cmd)
{
	size_t len = strlen(cmd);
	ssize_t n = write(ctlfd, cmd, len);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}
