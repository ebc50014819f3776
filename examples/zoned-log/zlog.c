/*
 * zlog: a small zoned log on libzbd, the way an FTL or a log-structured store writes a
 * host-managed device. Records are appended at the write pointer of the open zone; when a
 * record does not fit, the zone is finished and the log moves to the next one. Nothing is kept
 * anywhere else: after a crash or a power loss the log is recovered by reading every sequential
 * zone from its start to its write pointer.
 *
 *   zlog append DEV COUNT [SYNC_EVERY]   append COUNT records (fdatasync every SYNC_EVERY and at
 *                                       the end); prints "synced SEQ" after each fdatasync
 *   zlog recover DEV                     scan the zones; prints "records N last_seq S torn T"
 *
 * Record: a 32-byte little-endian header (0 magic "ZLOG", 4 payload length, 8 sequence number,
 * 16 payload CRC-32, 20 CRC-32 of bytes 0-19, 24 reserved), the payload, zero padding to the
 * logical block size. A record cut short by a power loss (its end past the write pointer) is "torn": the
 * rest of that zone is skipped and the writer never appends after it.
 *
 * Build: gcc -O2 -Wall -o zlog zlog.c -lzbd
 * Run on zonefuse: zonefuse exec ./zlog append /mnt/zns/nvme0n1 1000 16
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libzbd/zbd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAGIC 0x474f4c5au /* "ZLOG" */
#define HDR 32
#define MAX_PAYLOAD (3 * 4096)

struct log {
	int fd;
	struct zbd_info info;
	struct zbd_zone *zones;
	unsigned int nr;
	unsigned char *buf; /* aligned I/O buffer */
	size_t buflen;
	/* recovery results */
	uint64_t records, last_seq, torn;
	unsigned int zone;  /* where appends go */
	int zone_torn;      /* that zone ends in a torn record: never append after it */
};

static uint32_t crc32(const unsigned char *p, size_t n)
{
	static uint32_t table[256];
	if (!table[1])
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
	uint32_t c = 0xffffffffu;
	while (n--)
		c = table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffu;
}

static void put32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = v >> (8 * i); }
static void put64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = v >> (8 * i); }
static uint32_t get32(const unsigned char *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t get64(const unsigned char *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }

static size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

static void die(const char *what)
{
	fprintf(stderr, "zlog: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Payload of record `seq`: its length and bytes follow from the sequence number. */
static size_t make_payload(uint64_t seq, unsigned char *out)
{
	uint64_t x = seq * 0x9e3779b97f4a7c15ull + 1;
	size_t len = 100 + (x >> 33) % (MAX_PAYLOAD - HDR - 100);
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		out[i] = (unsigned char)x;
	}
	return len;
}

static void load_zones(struct log *l)
{
	free(l->zones);
	l->zones = NULL;
	if (zbd_list_zones(l->fd, 0, 0, ZBD_RO_ALL, &l->zones, &l->nr) != 0)
		die("zone report");
}

/* Read every sequential zone up to its write pointer; find where appends continue. */
static int recover(struct log *l)
{
	const size_t lba = l->info.lblock_size;
	load_zones(l);
	l->records = l->last_seq = l->torn = 0;
	l->zone = l->nr;
	l->zone_torn = 0;
	for (unsigned int i = 0; i < l->nr; i++) {
		struct zbd_zone *z = &l->zones[i];
		if (!zbd_zone_seq(z) || zbd_zone_offline(z))
			continue;
		/* A read-only zone's write pointer is invalid (~0): read it like a finished zone. */
		int sealed = zbd_zone_full(z) || zbd_zone_rdonly(z);
		if (l->zone == l->nr && !sealed)
			l->zone = i; /* the first zone with room; later ones are empty */
		unsigned long long end = sealed ? z->start + z->capacity : z->wp;
		unsigned long long off = z->start;
		while (off < end) {
			if (pread(l->fd, l->buf, lba, off) != (ssize_t)lba)
				die("read");
			uint32_t len = get32(l->buf + 4);
			uint64_t seq = get64(l->buf + 8);
			if (get32(l->buf) != MAGIC || get32(l->buf + 20) != crc32(l->buf, 20) || len > MAX_PAYLOAD - HDR) {
				if (sealed && get32(l->buf) == 0)
					break; /* the rest of a finished zone is unwritten */
				fprintf(stderr, "zlog: zone %u: no valid record at byte %llu below the write pointer\n", i, off);
				return -1;
			}
			size_t size = round_up(HDR + len, lba);
			if (off + size > end) {
				l->torn++;
				if (l->zone == i)
					l->zone_torn = 1;
				break;
			}
			if (size > lba && pread(l->fd, l->buf, size, off) != (ssize_t)size)
				die("read");
			if (get32(l->buf + 16) != crc32(l->buf + HDR, len)) {
				fprintf(stderr, "zlog: record %llu: payload CRC mismatch\n", (unsigned long long)seq);
				return -1;
			}
			if (seq != l->last_seq + 1) {
				fprintf(stderr, "zlog: record %llu follows %llu\n", (unsigned long long)seq, (unsigned long long)l->last_seq);
				return -1;
			}
			l->last_seq = seq;
			l->records++;
			off += size;
		}
	}
	return 0;
}

static void finish_zone(struct log *l, unsigned int i)
{
	struct zbd_zone *z = &l->zones[i];
	if (!zbd_zone_full(z) && zbd_zones_operation(l->fd, ZBD_OP_FINISH, z->start, z->len) != 0)
		die("finish zone");
}

static void sync_log(struct log *l)
{
	if (fdatasync(l->fd) != 0)
		die("fdatasync");
	printf("synced %llu\n", (unsigned long long)l->last_seq);
	fflush(stdout);
}

static void append(struct log *l, uint64_t count, uint64_t sync_every)
{
	const size_t lba = l->info.lblock_size;
	for (uint64_t n = 0; n < count; n++) {
		uint64_t seq = l->last_seq + 1;
		memset(l->buf, 0, l->buflen);
		size_t len = make_payload(seq, l->buf + HDR);
		put32(l->buf, MAGIC);
		put32(l->buf + 4, len);
		put64(l->buf + 8, seq);
		put32(l->buf + 16, crc32(l->buf + HDR, len));
		put32(l->buf + 20, crc32(l->buf, 20));
		size_t size = round_up(HDR + len, lba);
		for (;;) {
			if (l->zone >= l->nr) {
				fprintf(stderr, "zlog: the log is full\n");
				exit(3);
			}
			struct zbd_zone *z = &l->zones[l->zone];
			if (zbd_zone_seq(z) && !l->zone_torn && !zbd_zone_full(z) && !zbd_zone_rdonly(z) && !zbd_zone_offline(z) &&
			    z->wp + size <= z->start + z->capacity)
				break;
			/* Does not fit: close the zone for good (one active zone at a time), move on. */
			if (zbd_zone_seq(z) && zbd_zone_is_active(z))
				finish_zone(l, l->zone);
			l->zone++;
			l->zone_torn = 0;
		}
		struct zbd_zone *z = &l->zones[l->zone];
		ssize_t w = pwrite(l->fd, l->buf, size, z->wp);
		if (w != (ssize_t)size)
			die("write at the write pointer");
		z->wp += size;
		if (z->cond == ZBD_ZONE_COND_EMPTY)
			z->cond = ZBD_ZONE_COND_IMP_OPEN;
		l->last_seq = seq;
		if (sync_every && seq % sync_every == 0)
			sync_log(l);
	}
	sync_log(l);
}

int main(int argc, char **argv)
{
	if (argc < 3 || (strcmp(argv[1], "append") && strcmp(argv[1], "recover")) || (!strcmp(argv[1], "append") && argc < 4)) {
		fprintf(stderr, "usage: zlog append DEV COUNT [SYNC_EVERY] | zlog recover DEV\n");
		return 2;
	}
	struct log l = { 0 };
	l.fd = zbd_open(argv[2], O_RDWR | O_DIRECT, &l.info);
	if (l.fd < 0)
		die(argv[2]);
	l.buflen = round_up(MAX_PAYLOAD, l.info.lblock_size);
	if (posix_memalign((void **)&l.buf, 4096, l.buflen))
		die("memory");
	if (recover(&l) != 0)
		return 1;
	if (!strcmp(argv[1], "recover")) {
		printf("records %llu last_seq %llu torn %llu\n", (unsigned long long)l.records,
		       (unsigned long long)l.last_seq, (unsigned long long)l.torn);
	} else {
		append(&l, strtoull(argv[3], NULL, 10), argc > 4 ? strtoull(argv[4], NULL, 10) : 0);
	}
	zbd_close(l.fd);
	return 0;
}
