/*
 * The block and zone ioctls on a namespace file, with the kernel's structures, checks and
 * errnos (Linux 6.x block/ioctl.c and block/blk-zoned.c). Every answer is read from the mount
 * when asked; zone management goes to the namespace's ctl file, one command per zone, so the
 * daemon decides and its refusals come back as the errno the kernel would report (EIO, EOVERFLOW
 * for too many active zones, ETOOMANYREFS for too many open zones).
 */
#include "zf.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/blkzoned.h>
#include <linux/capability.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef int (*ioctl_fn)(int, unsigned long, ...);

/* The kernel's block_size(): the page cache block of the device node. */
static int block_size(const struct zf_header *h)
{
	return h->lba_size > 4096 ? (int)h->lba_size : 4096;
}

static uint64_t zone_sectors(const struct zf_header *h)
{
	return h->zone_lbas * h->lba_size / 512;
}

static int opened_for_write(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl >= 0 && (fl & O_ACCMODE) != O_RDONLY;
}

static int has_sys_admin(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	if (syscall(SYS_capget, &hdr, data) != 0)
		return geteuid() == 0;
	return (data[CAP_SYS_ADMIN / 32].effective >> (CAP_SYS_ADMIN % 32)) & 1;
}

/* BLKREPORTZONE: from the zone holding rep->sector, at most rep->nr_zones zones. */
static int report_zones(const struct zf_ns *ns, struct blk_zone_report *rep)
{
	const struct zf_header *h = &ns->hdr;
	if (!rep)
		return -EINVAL;
	if (!rep->nr_zones)
		return -EINVAL;
	const uint64_t zs = zone_sectors(h);
	const uint64_t cap = zf_capacity_bytes(h) / 512;
	const uint32_t spl = h->lba_size / 512;
	rep->flags = BLK_ZONE_REP_CAPACITY;
	if (rep->sector >= cap) {
		rep->nr_zones = 0;
		return 0;
	}
	uint32_t first = rep->sector / zs;
	uint32_t n = h->nr_zones - first;
	if (n > rep->nr_zones)
		n = rep->nr_zones;
	struct zf_zone *zones = malloc(sizeof(*zones) * n);
	if (!zones)
		return -ENOMEM;
	int r = zf_read_zones(ns, first, n, zones);
	if (r) {
		free(zones);
		return r;
	}
	for (uint32_t i = 0; i < n; i++) {
		const struct zf_zone *z = &zones[i];
		struct blk_zone *b = &rep->zones[i];
		memset(b, 0, sizeof(*b));
		b->start = z->start * spl;
		b->len = zs;
		b->capacity = z->capacity * spl;
		b->type = z->type;
		b->cond = z->state;
		b->non_seq = (z->flags & ZF_FLAG_NON_SEQ) != 0;
		b->reset = (z->attrs & ZF_ATTR_RZR) != 0;
		if (z->type == BLK_ZONE_TYPE_CONVENTIONAL)
			b->wp = b->start + b->len; /* no write pointer: all of it is writable (as null_blk) */
		else if (z->state == BLK_ZONE_COND_FULL)
			b->wp = b->start + b->len; /* the NVMe driver reports start + len for Full */
		else if (z->state == BLK_ZONE_COND_READONLY || z->state == BLK_ZONE_COND_OFFLINE)
			b->wp = (uint64_t)-1; /* invalid write pointer */
		else
			b->wp = z->wp * spl;
	}
	free(zones);
	rep->nr_zones = n;
	return 0;
}

/*
 * BLKRESETZONE/BLKOPENZONE/BLKCLOSEZONE/BLKFINISHZONE (blkdev_zone_mgmt): the range must start
 * on a zone and cover whole zones (or end at the capacity). A reset of the whole device is one
 * select-all reset; otherwise each zone gets its own command, all of them are tried, and the
 * first failure is the result. Conventional zones fail with EIO, as the block layer fails them.
 */
static int zone_mgmt(int fd, const struct zf_ns *ns, unsigned long req, const struct blk_zone_range *zr)
{
	const struct zf_header *h = &ns->hdr;
	if (!zr)
		return -EINVAL;
	if (!opened_for_write(fd))
		return -EBADF;
	const uint64_t zs = zone_sectors(h);
	const uint64_t cap = zf_capacity_bytes(h) / 512;
	const uint64_t sector = zr->sector, nr = zr->nr_sectors, end = sector + nr;
	if (end <= sector || end > cap)
		return -EINVAL;
	if (sector % zs)
		return -EINVAL;
	if (nr % zs && end != cap)
		return -EINVAL;
	const char *verb = req == BLKRESETZONE ? "reset" : req == BLKOPENZONE ? "open" : req == BLKCLOSEZONE ? "close" : "finish";
	int ctl = zf_ctl_open(ns);
	if (ctl < 0)
		return -EIO;
	int err = 0;
	if (req == BLKRESETZONE && sector == 0 && nr == cap) {
		err = zf_ctl_send(ctl, "reset all\n");
	} else {
		char cmd[48];
		for (uint64_t z = sector / zs; z < (end + zs - 1) / zs; z++) {
			int r;
			if (z < h->conv_zones) {
				r = -EIO;
			} else {
				snprintf(cmd, sizeof(cmd), "%s %llu\n", verb, (unsigned long long)z);
				r = zf_ctl_send(ctl, cmd);
			}
			if (r && !err)
				err = r;
		}
	}
	close(ctl);
	zf_debug("zonefuse-preload: %s %s sectors %llu+%llu: %s", ns->name, verb, (unsigned long long)sector,
		 (unsigned long long)nr, err ? strerror(-err) : "done");
	return err;
}

/*
 * BLKZEROOUT: the device has no Write Zeroes, so the kernel writes zero pages; on a zoned device
 * those are ordinary writes (at the write pointer or refused).
 */
static int zero_out(int fd, const struct zf_ns *ns, const uint64_t *range)
{
	if (!opened_for_write(fd))
		return -EBADF;
	if (!range)
		return -EFAULT;
	uint64_t start = range[0], len = range[1], end = start + len - 1;
	if ((start & 511) || (len & 511))
		return -EINVAL;
	if (end >= zf_capacity_bytes(&ns->hdr) || end < start)
		return -EINVAL;
	int wfd = syscall(SYS_openat, AT_FDCWD, ns->path, O_WRONLY | O_DIRECT | O_CLOEXEC, 0);
	if (wfd < 0)
		return -errno;
	const size_t chunk = 1 << 20;
	void *zeros;
	if (posix_memalign(&zeros, 4096, chunk)) {
		close(wfd);
		return -ENOMEM;
	}
	memset(zeros, 0, chunk);
	int r = 0;
	for (uint64_t done = 0; done < len;) {
		size_t n = len - done < chunk ? len - done : chunk;
		ssize_t w = pwrite(wfd, zeros, n, start + done);
		if (w <= 0) {
			r = w < 0 ? -errno : -EIO;
			break;
		}
		done += w;
	}
	free(zeros);
	close(wfd);
	return r;
}

#define PUT(type, value) do { if (!arg) return -EFAULT; *(type *)arg = (value); return 0; } while (0)

static int block_ioctl(int fd, const struct zf_ns *ns, unsigned long req, void *arg)
{
	const struct zf_header *h = &ns->hdr;
	const uint64_t bytes = zf_capacity_bytes(h);
	switch (req) {
	case BLKGETSIZE64: PUT(uint64_t, bytes);
	case BLKGETSIZE: PUT(unsigned long, bytes / 512);
	case BLKSSZGET: PUT(int, h->lba_size);
	case BLKPBSZGET: PUT(unsigned int, h->lba_size);
	case BLKBSZGET: PUT(int, block_size(h));
	case BLKIOMIN: PUT(unsigned int, h->lba_size);
	case BLKIOOPT: PUT(unsigned int, 0);
	case BLKALIGNOFF: PUT(int, 0);
	case BLKDISCARDZEROES: PUT(unsigned int, 0);
	case BLKROTATIONAL: PUT(unsigned short, 0);
	case BLKSECTGET: PUT(unsigned short, 256); /* 128 KiB requests: the mount's max_write */
	case BLKROGET: PUT(int, 0);
	case BLKGETDISKSEQ: PUT(uint64_t, (uint64_t)ns->minor + 1);
	case BLKGETZONESZ: PUT(uint32_t, (uint32_t)zone_sectors(h));
	case BLKGETNRZONES: PUT(uint32_t, h->nr_zones);
	case BLKRAGET:
	case BLKFRAGET:
		if (!arg)
			return -EINVAL;
		*(long *)arg = 256;
		return 0;
	case BLKRASET:
	case BLKFRASET:
		return has_sys_admin() ? 0 : -EACCES;
	case BLKFLSBUF:
		if (!has_sys_admin())
			return -EACCES;
		return fsync(fd) == 0 ? 0 : -errno;
	case BLKRRPART:
		return has_sys_admin() ? -EINVAL : -EACCES;
	case BLKDISCARD:
	case BLKSECDISCARD:
		/* A zoned namespace without Dataset Management: no discard. */
		return opened_for_write(fd) ? -EOPNOTSUPP : -EBADF;
	case BLKZEROOUT:
		return zero_out(fd, ns, arg);
	case BLKREPORTZONE:
		return report_zones(ns, arg);
	case BLKRESETZONE:
	case BLKOPENZONE:
	case BLKCLOSEZONE:
	case BLKFINISHZONE:
		return zone_mgmt(fd, ns, req, arg);
	default:
		return -ENOTTY;
	}
}

int ioctl(int fd, unsigned long req, ...)
{
	ZF_REAL(ioctl_fn, ioctl);
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	if (_IOC_TYPE(req) == 0x12) {
		struct zf_ns ns;
		if (zf_ns_from_fd(fd, &ns)) {
			int r = block_ioctl(fd, &ns, req, arg);
			if (r < 0) {
				errno = -r;
				return -1;
			}
			return r;
		}
	}
	return real_ioctl(fd, req, arg);
}
