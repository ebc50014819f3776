/*
 * The synthetic sysfs of namespace devices and the redirection of /sys paths to it.
 *
 * For each namespace a process touches, a small tree with the values a kernel would show is
 * written once into a per-user directory, content-addressed (its name is a hash of everything
 * in it), so it can never be stale: a namespace whose geometry changed gets a new tree. Each tree
 * mirrors the /sys paths tools use:
 *
 *   dev/block/511:M          -> ../../devices/virtual/zonefuse/nsM/NAME
 *   block/NAME               -> ../devices/virtual/zonefuse/nsM/NAME
 *   class/block/NAME         -> ../../devices/virtual/zonefuse/nsM/NAME
 *   devices/virtual/zonefuse/nsM/NAME/{dev,size,ro,...,queue/...,device/...}
 *
 * so a /sys path naming our MAJ:MIN or a registered NAME is served by swapping "/sys" for the
 * tree's directory, and the kernel resolves the relative links inside it. A registered NAME
 * shadows a real block device of the same name in this process only.
 */
#include "zf.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef ZONEFUSE_VERSION
#define ZONEFUSE_VERSION "0"
#endif

#define MAX_DEVS 64
#define MINOR_SPACE (1u << 20)

struct dev_entry {
	int used;
	dev_t fsdev;
	ino_t ino;
	char name[NAME_MAX + 1];
	unsigned int minor;
	uint64_t hash;
	uint64_t last_use;
	char tree[PATH_MAX]; /* the content-addressed directory standing in for /sys */
};

static struct dev_entry devs[MAX_DEVS];
static int nr_devs;
static uint64_t use_clock;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* fork() while another thread holds the lock must not leave the child with a locked registry. */
static void before_fork(void) { pthread_mutex_lock(&lock); }
static void after_fork(void) { pthread_mutex_unlock(&lock); }

__attribute__((constructor)) static void init_fork_handlers(void)
{
	pthread_atfork(before_fork, after_fork, after_fork);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

#define FNV_INIT 0xcbf29ce484222325ull

/* ---- the tree's contents ------------------------------------------------------------------ */

#define MAX_NODES 80

struct node {
	char path[512];   /* relative to the tree */
	char text[352];   /* file content, or link target */
	char kind;        /* 'd' directory, 'f' file, 'l' symlink */
};

struct tree {
	struct node n[MAX_NODES];
	int count;
};

static void add(struct tree *t, char kind, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#include <stdarg.h>
static void add(struct tree *t, char kind, const char *path, const char *fmt, ...)
{
	if (t->count >= MAX_NODES)
		return;
	struct node *n = &t->n[t->count++];
	n->kind = kind;
	snprintf(n->path, sizeof(n->path), "%s", path);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(n->text, sizeof(n->text), fmt, ap);
	va_end(ap);
}

/* What the kernel would show for this namespace. */
static void describe(const struct zf_ns *ns, unsigned int minor, int host_aware, struct tree *t)
{
	const struct zf_header *h = &ns->hdr;
	const uint64_t cap = zf_capacity_bytes(h);
	const uint64_t zone_sectors = h->zone_lbas * h->lba_size / 512;
	/* The mount's request size (max_write): what one I/O can carry to the daemon. */
	const unsigned int max_kb = 128;
	const unsigned int zasl = h->zasl_bytes ? h->zasl_bytes : max_kb * 1024;
	char dev[320], q[336], p[512];
	t->count = 0;
	snprintf(dev, sizeof(dev), "devices/virtual/zonefuse/ns%u/%s", minor, ns->name);

	add(t, 'd', "dev", "%s", "");
	add(t, 'd', "dev/block", "%s", "");
	snprintf(p, sizeof(p), "dev/block/%u:%u", ZF_MAJOR, minor);
	add(t, 'l', p, "../../%s", dev);
	add(t, 'd', "block", "%s", "");
	snprintf(p, sizeof(p), "block/%s", ns->name);
	add(t, 'l', p, "../%s", dev);
	add(t, 'd', "class", "%s", "");
	add(t, 'd', "class/block", "%s", "");
	snprintf(p, sizeof(p), "class/block/%s", ns->name);
	add(t, 'l', p, "../../%s", dev);
	add(t, 'd', "devices", "%s", "");
	add(t, 'd', "devices/virtual", "%s", "");
	add(t, 'd', "devices/virtual/zonefuse", "%s", "");
	snprintf(p, sizeof(p), "devices/virtual/zonefuse/ns%u", minor);
	add(t, 'd', p, "%s", "");
	add(t, 'd', dev, "%s", "");

#define F(rel, ...) do { snprintf(p, sizeof(p), "%s/%s", dev, rel); add(t, 'f', p, __VA_ARGS__); } while (0)
#define Q(rel, ...) do { snprintf(p, sizeof(p), "%s/%s", q, rel); add(t, 'f', p, __VA_ARGS__); } while (0)
	F("dev", "%u:%u\n", ZF_MAJOR, minor);
	F("size", "%llu\n", (unsigned long long)(cap / 512));
	F("ro", "0\n");
	F("removable", "0\n");
	F("hidden", "0\n");
	F("range", "0\n");
	F("ext_range", "1\n");
	F("capability", "0\n");
	F("alignment_offset", "0\n");
	F("discard_alignment", "0\n");
	F("uevent", "MAJOR=%u\nMINOR=%u\nDEVNAME=%s\nDEVTYPE=disk\n", ZF_MAJOR, minor, ns->name);
	snprintf(p, sizeof(p), "%s/subsystem", dev);
	add(t, 'l', p, "../../../../../class/block");
	snprintf(p, sizeof(p), "%s/holders", dev);
	add(t, 'd', p, "%s", "");
	snprintf(p, sizeof(p), "%s/slaves", dev);
	add(t, 'd', p, "%s", "");
	snprintf(p, sizeof(p), "%s/device", dev);
	add(t, 'd', p, "%s", "");
	F("device/vendor", "ZONEFUSE\n");
	F("device/model", "zonefuse ZNS namespace\n");
	F("device/rev", "%s\n", ZONEFUSE_VERSION);
	F("device/firmware_rev", "%s\n", ZONEFUSE_VERSION);

	snprintf(q, sizeof(q), "%s/queue", dev);
	add(t, 'd', q, "%s", "");
	Q("zoned", "%s\n", host_aware ? "host-aware" : "host-managed");
	Q("chunk_sectors", "%llu\n", (unsigned long long)zone_sectors);
	Q("nr_zones", "%u\n", h->nr_zones);
	Q("max_open_zones", "%u\n", h->max_open);
	Q("max_active_zones", "%u\n", h->max_active);
	Q("zone_append_max_bytes", "%u\n", zasl);
	Q("zone_write_granularity", "%u\n", h->lba_size);
	Q("logical_block_size", "%u\n", h->lba_size);
	Q("physical_block_size", "%u\n", h->lba_size);
	Q("hw_sector_size", "%u\n", h->lba_size);
	Q("minimum_io_size", "%u\n", h->lba_size);
	Q("optimal_io_size", "0\n");
	Q("max_sectors_kb", "%u\n", max_kb);
	Q("max_hw_sectors_kb", "%u\n", max_kb);
	Q("max_segments", "%u\n", max_kb / 4);
	Q("max_segment_size", "4096\n");
	Q("max_discard_segments", "1\n");
	Q("discard_granularity", "0\n");
	Q("discard_max_bytes", "0\n");
	Q("discard_max_hw_bytes", "0\n");
	Q("write_zeroes_max_bytes", "0\n");
	Q("rotational", "0\n");
	Q("nomerges", "0\n");
	Q("nr_requests", "64\n");
	Q("read_ahead_kb", "128\n");
	Q("scheduler", "[none]\n");
	Q("add_random", "0\n");
	Q("iostats", "1\n");
	Q("dax", "0\n");
	Q("dma_alignment", "%u\n", h->lba_size - 1);
	Q("io_poll", "0\n");
	Q("stable_writes", "0\n");
#undef F
#undef Q
}

static uint64_t tree_hash(const struct tree *t)
{
	uint64_t h = FNV_INIT;
	for (int i = 0; i < t->count; i++) {
		h = fnv(h, &t->n[i].kind, 1);
		h = fnv(h, t->n[i].path, strlen(t->n[i].path) + 1);
		h = fnv(h, t->n[i].text, strlen(t->n[i].text) + 1);
	}
	return h;
}

/* ---- writing a tree --------------------------------------------------------------------- */

static int raw_lstat(const char *p, struct stat *st)
{
	return zf_raw_fstatat(AT_FDCWD, p, st, AT_SYMLINK_NOFOLLOW);
}

/* The per-user directory holding the trees: private, owned by us. */
static int trees_root(char *out, size_t len)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	struct stat st;
	int n;
	if (xdg && xdg[0] == '/' && raw_lstat(xdg, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid())
		n = snprintf(out, len, "%s/zonefuse-sysfs", xdg);
	else
		n = snprintf(out, len, "/tmp/zonefuse-sysfs-%u", (unsigned)geteuid());
	if (n < 0 || (size_t)n >= len)
		return -1;
	if (mkdir(out, 0700) != 0 && errno != EEXIST)
		return -1;
	if (raw_lstat(out, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077)) {
		zf_debug("zonefuse-preload: %s is not a private directory of this user: no sysfs for namespaces", out);
		return -1;
	}
	return 0;
}

static void remove_tree(const char *dir, const struct tree *t)
{
	char p[PATH_MAX];
	for (int i = t->count - 1; i >= 0; i--) {
		snprintf(p, sizeof(p), "%s/%s", dir, t->n[i].path);
		if (t->n[i].kind == 'd')
			rmdir(p);
		else
			unlink(p);
	}
	rmdir(dir);
}

static int write_tree(const char *dir, const struct tree *t)
{
	char p[PATH_MAX];
	if (mkdir(dir, 0700) != 0)
		return -1;
	for (int i = 0; i < t->count; i++) {
		const struct node *n = &t->n[i];
		if (snprintf(p, sizeof(p), "%s/%s", dir, n->path) >= (int)sizeof(p))
			return -1;
		if (n->kind == 'd') {
			if (mkdir(p, 0755) != 0)
				return -1;
		} else if (n->kind == 'l') {
			if (symlink(n->text, p) != 0)
				return -1;
		} else {
			int fd = syscall(SYS_openat, AT_FDCWD, p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
			if (fd < 0)
				return -1;
			size_t len = strlen(n->text);
			ssize_t w = write(fd, n->text, len);
			close(fd);
			if (w != (ssize_t)len)
				return -1;
		}
	}
	return 0;
}

/* Make sure the tree for this content exists; its directory into out. */
static int ensure_tree(const struct tree *t, uint64_t hash, char *out, size_t len)
{
	char root[PATH_MAX - 64], tmp[PATH_MAX];
	struct stat st;
	if (trees_root(root, sizeof(root)) != 0)
		return -1;
	if ((size_t)snprintf(out, len, "%s/%016llx", root, (unsigned long long)hash) >= len)
		return -1;
	if (raw_lstat(out, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	snprintf(tmp, sizeof(tmp), "%s/.tmp.%d.%016llx", root, (int)getpid(), (unsigned long long)hash);
	remove_tree(tmp, t);
	if (write_tree(tmp, t) != 0) {
		remove_tree(tmp, t);
		return -1;
	}
	/* Another process may have made the same tree meanwhile: theirs is identical. */
	if (rename(tmp, out) != 0)
		remove_tree(tmp, t);
	return raw_lstat(out, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

/* ---- the registry ------------------------------------------------------------------------ */

static int host_aware_of(const struct zf_ns *ns)
{
	if (ns->hdr.conv_zones >= ns->hdr.nr_zones)
		return 0;
	struct zf_zone z;
	if (zf_read_zones(ns, ns->hdr.conv_zones, 1, &z) != 0)
		return 0;
	return z.type == ZF_ZONE_SEQ_PREFERRED;
}

static unsigned int pick_minor(const struct zf_ns *ns)
{
	uint64_t h = fnv(FNV_INIT, &ns->fsdev, sizeof(ns->fsdev));
	h = fnv(h, ns->name, strlen(ns->name));
	unsigned int m = (unsigned int)(h % MINOR_SPACE);
	for (;;) {
		int taken = 0;
		for (int i = 0; i < nr_devs; i++)
			if (devs[i].used && devs[i].minor == m)
				taken = 1;
		if (!taken)
			return m;
		m = (m + 1) % MINOR_SPACE;
	}
}

/* Records the namespace (and its minor in ns->minor); builds its sysfs tree when needed. */
void zf_sysfs_register(const struct zf_ns *cns)
{
	struct zf_ns *ns = (struct zf_ns *)cns;
	int saved = errno;
	int host_aware = host_aware_of(ns);
	pthread_mutex_lock(&lock);
	struct dev_entry *e = NULL;
	for (int i = 0; i < nr_devs; i++)
		if (devs[i].used && devs[i].fsdev == ns->fsdev && strcmp(devs[i].name, ns->name) == 0)
			e = &devs[i];
	if (!e) {
		if (nr_devs == MAX_DEVS) {
			/* Forget the least recently used namespace. */
			int old = 0;
			for (int i = 1; i < nr_devs; i++)
				if (devs[i].last_use < devs[old].last_use)
					old = i;
			devs[old].used = 0;
			e = &devs[old];
		} else {
			e = &devs[nr_devs++];
		}
		memset(e, 0, sizeof(*e));
		e->minor = pick_minor(ns);
		e->fsdev = ns->fsdev;
		strcpy(e->name, ns->name);
		e->used = 1;
	}
	e->last_use = ++use_clock;
	e->ino = ns->ino;
	ns->minor = e->minor;
	static struct tree t; /* under the lock */
	describe(ns, e->minor, host_aware, &t);
	uint64_t hash = tree_hash(&t);
	if (hash != e->hash || !e->tree[0]) {
		if (ensure_tree(&t, hash, e->tree, sizeof(e->tree)) == 0) {
			e->hash = hash;
			zf_debug("zonefuse-preload: %s is block device %u:%u, sysfs in %s", ns->path, ZF_MAJOR, e->minor, e->tree);
		} else {
			e->tree[0] = '\0';
			e->hash = 0;
		}
	}
	pthread_mutex_unlock(&lock);
	errno = saved;
}

/* ---- path redirection -------------------------------------------------------------------- */

/* The registered device with this minor. */
static struct dev_entry *by_minor(unsigned int min)
{
	for (int i = 0; i < nr_devs; i++)
		if (devs[i].used && devs[i].minor == min)
			return &devs[i];
	return NULL;
}

/* The most recently used registered device called name[0, len). */
static struct dev_entry *by_name(const char *name, size_t len)
{
	struct dev_entry *best = NULL;
	for (int i = 0; i < nr_devs; i++)
		if (devs[i].used && strlen(devs[i].name) == len && strncmp(devs[i].name, name, len) == 0 &&
		    (!best || devs[i].last_use > best->last_use))
			best = &devs[i];
	return best;
}

/*
 * util-linux asks for a device given by a path outside /dev as /sys/block/<path with '/' as
 * '!'>/dev (its sysfs_devname_to_devno): a name with '!' that, turned back into a path, is a
 * registered namespace file names that device.
 */
static struct dev_entry *by_mangled_path(const char *name, size_t len)
{
	char path[PATH_MAX];
	struct stat st;
	if (!memchr(name, '!', len) || len >= sizeof(path))
		return NULL;
	for (size_t i = 0; i < len; i++)
		path[i] = name[i] == '!' ? '/' : name[i];
	path[len] = '\0';
	if (zf_raw_fstatat(AT_FDCWD, path, &st, 0) != 0 || !S_ISREG(st.st_mode))
		return NULL;
	for (int i = 0; i < nr_devs; i++)
		if (devs[i].used && devs[i].fsdev == st.st_dev && devs[i].ino == st.st_ino)
			return &devs[i];
	return NULL;
}

/*
 * Which registered device does a normalised "/sys/..." path name, if any? Sets *matched to the
 * length of the prefix that names it and canon to that prefix's form inside the tree.
 */
static struct dev_entry *owner(const char *p, size_t *matched, char *canon, size_t canonlen)
{
	struct dev_entry *e = NULL;
	unsigned int maj, min;
	int n = 0;
	const char *dir = NULL;
	if (sscanf(p, "/sys/dev/block/%u:%u%n", &maj, &min, &n) == 2 && maj == ZF_MAJOR && (p[n] == '\0' || p[n] == '/')) {
		e = by_minor(min);
		dir = "/dev/block";
	} else if (sscanf(p, "/sys/devices/virtual/zonefuse/ns%u%n", &min, &n) == 1 && (p[n] == '\0' || p[n] == '/')) {
		e = by_minor(min);
		dir = "/devices/virtual/zonefuse";
	} else {
		const char *rest;
		if (strncmp(p, "/sys/block/", 11) == 0)
			rest = p + 11, dir = "/block";
		else if (strncmp(p, "/sys/class/block/", 17) == 0)
			rest = p + 17, dir = "/class/block";
		else
			return NULL;
		size_t len = strcspn(rest, "/");
		e = by_name(rest, len);
		if (!e)
			e = by_mangled_path(rest, len);
		n = rest + len - p;
	}
	if (!e || !e->tree[0])
		return NULL;
	*matched = n;
	if (strcmp(dir, "/dev/block") == 0)
		snprintf(canon, canonlen, "/dev/block/%u:%u", ZF_MAJOR, e->minor);
	else if (strcmp(dir, "/devices/virtual/zonefuse") == 0)
		snprintf(canon, canonlen, "/devices/virtual/zonefuse/ns%u", e->minor);
	else
		snprintf(canon, canonlen, "%s/%s", dir, e->name);
	return e;
}

static int compose(const struct dev_entry *e, const char *norm, const char *tail, char *out, size_t outlen)
{
	size_t matched;
	char canon[NAME_MAX + 64];
	if (owner(norm, &matched, canon, sizeof(canon)) != e)
		return 0;
	int n = snprintf(out, outlen, "%s%s%s%s%s", e->tree, canon, norm + matched, tail ? "/" : "", tail ? tail : "");
	return n > 0 && (size_t)n < outlen;
}

/*
 * A tool may ask sysfs about a device by name before it has looked at the file (blkzone reads
 * /sys/block/<name>/dev first, with the name it was given, '/' spelt '!'): when such a name is
 * not registered and, as a path from the working directory, is a namespace file, register it.
 */
static void register_named(const char *path)
{
	const char *rest;
	if (strncmp(path, "/sys/block/", 11) == 0)
		rest = path + 11;
	else if (strncmp(path, "/sys/class/block/", 17) == 0)
		rest = path + 17;
	else
		return;
	size_t len = strcspn(rest, "/");
	if (len == 0 || len >= PATH_MAX || (len <= 2 && rest[0] == '.'))
		return;
	pthread_mutex_lock(&lock);
	int known = by_name(rest, len) != NULL;
	pthread_mutex_unlock(&lock);
	if (known)
		return;
	char file[PATH_MAX];
	for (size_t i = 0; i < len; i++)
		file[i] = rest[i] == '!' ? '/' : rest[i];
	file[len] = '\0';
	struct stat st;
	struct zf_ns ns;
	int saved = errno;
	if (zf_raw_fstatat(AT_FDCWD, file, &st, 0) == 0)
		zf_ns_from_path(AT_FDCWD, file, &st, &ns);
	errno = saved;
}

/*
 * If `path` names something in a registered namespace's sysfs, the tree path serving it into
 * out and 1; else 0. "." and ".." are resolved lexically while the path is in the real /sys
 * directories (/sys/dev/block, /sys/block, ... are real directories); from the first link of
 * ours on, the rest is left to the kernel inside the tree.
 */
int zf_sys_redirect(const char *path, char *out, size_t outlen)
{
	if (!path || strncmp(path, "/sys/", 5) != 0)
		return 0;
	register_named(path);
	if (nr_devs == 0)
		return 0;
	char norm[PATH_MAX];
	size_t nl = 0;
	const char *s = path;
	int r = 0;
	pthread_mutex_lock(&lock);
	while (*s) {
		while (*s == '/')
			s++;
		if (!*s)
			break;
		size_t cl = strcspn(s, "/");
		if (cl == 1 && s[0] == '.') {
			s += cl;
			continue;
		}
		if (cl == 2 && s[0] == '.' && s[1] == '.') {
			norm[nl] = '\0';
			size_t matched;
			char canon[NAME_MAX + 64];
			struct dev_entry *e = owner(norm, &matched, canon, sizeof(canon));
			if (e) {
				r = compose(e, norm, s, out, outlen);
				goto done;
			}
			while (nl > 0 && norm[nl - 1] != '/')
				nl--;
			if (nl > 0)
				nl--;
			s += cl;
			continue;
		}
		if (nl + 1 + cl >= sizeof(norm))
			goto done;
		norm[nl++] = '/';
		memcpy(norm + nl, s, cl);
		nl += cl;
		s += cl;
	}
	norm[nl] = '\0';
	{
		size_t matched;
		char canon[NAME_MAX + 64];
		struct dev_entry *e = owner(norm, &matched, canon, sizeof(canon));
		if (e)
			r = compose(e, norm, NULL, out, outlen);
	}
done:
	pthread_mutex_unlock(&lock);
	if (r)
		zf_debug("zonefuse-preload: %s -> %s", path, out);
	return r;
}

/* Has this process registered any namespace device? (a cheap test before path work) */
int zf_sys_active(void)
{
	return nr_devs > 0;
}

/* A path inside one of our trees (as realpath returns it) back into its /sys form. */
int zf_sys_unredirect(const char *path, char *out, size_t outlen)
{
	int r = 0;
	pthread_mutex_lock(&lock);
	for (int i = 0; i < nr_devs && !r; i++) {
		if (!devs[i].used || !devs[i].tree[0])
			continue;
		size_t tl = strlen(devs[i].tree);
		if (strncmp(path, devs[i].tree, tl) == 0 && (path[tl] == '/' || path[tl] == '\0')) {
			int n = snprintf(out, outlen, "/sys%s", path + tl);
			r = n > 0 && (size_t)n < outlen;
		}
	}
	pthread_mutex_unlock(&lock);
	return r;
}
