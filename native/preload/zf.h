/*
 * zonefuse compatibility library (LD_PRELOAD): inside a process that loads it, every namespace
 * file of a zonefuse mount is a host-managed (or host-aware) zoned block device as the Linux
 * zoned block interface presents one. See README "Your zoned tools".
 *
 * Modules:
 *   ns.c     recognising namespace files, reading zones.bin, sending ctl commands
 *   sysfs.c  the synthetic sysfs tree and the /sys path redirection
 *   stat.c   the stat family (S_IFBLK, synthetic st_rdev)
 *   ioctl.c  the block and zone ioctls
 *   paths.c  open/fopen/opendir/access/readlink/realpath wrappers for redirected /sys paths
 */
#ifndef ZF_H
#define ZF_H

#define _GNU_SOURCE
#include <limits.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/stat.h>

/* A major number no Linux driver registers (block majors stop at 511; dynamic ones at 254). */
#define ZF_MAJOR 511u

/*
 * The zones.bin header (docs/zones-bin.md), decoded. The library answers from the live file on
 * every call, so it has no use for the change tracking (flag CHANGE_SEQ, record bytes 44-47,
 * changes.bin) that followers of the file use; it ignores those bytes, as version 1 allows.
 */
struct zf_header {
	uint32_t nr_zones;
	uint32_t lba_size;
	uint32_t max_open;
	uint32_t max_active;
	uint32_t open_now;
	uint32_t active_now;
	uint32_t zasl_bytes;
	uint64_t zone_lbas;
	uint64_t generation;
	uint32_t conv_zones;
	uint16_t header_size;
	uint16_t record_size;
};

/* One zone record, decoded. */
struct zf_zone {
	uint64_t start; /* LBA */
	uint64_t wp;    /* LBA, absolute */
	uint64_t capacity;
	uint8_t type;
	uint8_t state;
	uint8_t attrs;
	uint8_t flags;
};

#define ZF_ZONE_CONVENTIONAL 1
#define ZF_ZONE_SEQ_PREFERRED 3
#define ZF_ATTR_RZR 0x04
#define ZF_FLAG_NON_SEQ 0x01

/* A recognised namespace file. */
struct zf_ns {
	char path[PATH_MAX];   /* the namespace file, absolute when it came from an fd */
	char name[NAME_MAX + 1];
	dev_t fsdev;           /* st_dev of the mount */
	ino_t ino;
	unsigned int minor;    /* synthetic block device minor */
	struct zf_header hdr;  /* read from the mount just now */
};

/* ns.c */
int zf_ns_from_path(int dirfd, const char *path, const struct stat *st, struct zf_ns *ns);
int zf_ns_from_fd(int fd, struct zf_ns *ns);
int zf_read_zones(const struct zf_ns *ns, uint32_t first, uint32_t count, struct zf_zone *out);
int zf_ctl_open(const struct zf_ns *ns);
int zf_ctl_send(int ctlfd, const char *cmd);
uint64_t zf_capacity_bytes(const struct zf_header *h);
int zf_raw_fstatat(int dirfd, const char *path, struct stat *st, int flags);
int zf_debug_enabled(void);
void zf_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* sysfs.c */
void zf_sysfs_register(const struct zf_ns *ns);
int zf_sys_redirect(const char *path, char *out, size_t outlen);
int zf_sys_unredirect(const char *path, char *out, size_t outlen);
int zf_sys_active(void);

/* real libc entry points (paths.c) */
void *zf_real(const char *name);
#define ZF_REAL(type, name) \
	static type real_##name; \
	if (!real_##name) real_##name = (type)zf_real(#name)

#endif
