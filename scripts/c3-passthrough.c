/*
 * Benchmark baseline: the thinnest libfuse3 low-level daemon, one file passed through to a
 * backing file with one pread/pwrite per request. scripts/bench compiles it (gcc, pkg-config
 * fuse3) and mounts it beside zonefuse, with what zonefuse's libfuse3 backend asks of the kernel:
 * 1 MiB requests, async direct I/O, max_background 64, attribute and entry timeouts 0, and
 * FOPEN_DIRECT_IO | FOPEN_PARALLEL_DIRECT_WRITES on every open (the OPEN reply built by hand:
 * libfuse 3.14.0 has no field for the second flag). Requests are served by libfuse's own
 * multithreaded loop, so this is what C on libfuse3 reaches on this machine.
 *
 *   c3-passthrough BACKING MOUNTPOINT NAME      (exposes MOUNTPOINT/NAME; SIGINT/SIGTERM unmount)
 */
#define FUSE_USE_VERSION 314
#define _GNU_SOURCE
#include <fuse_lowlevel.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_INO 2

static int backing_fd = -1;
static const char *file_name;

struct open_out {
  uint64_t fh;
  uint32_t open_flags;
  uint32_t padding;
};

static int stat_of(fuse_ino_t ino, struct stat *st) {
  memset(st, 0, sizeof *st);
  st->st_ino = ino;
  if (ino == FUSE_ROOT_ID) {
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
    return 0;
  }
  if (ino != FILE_INO) return ENOENT;
  struct stat b;
  if (fstat(backing_fd, &b) != 0) return errno;
  st->st_mode = S_IFREG | 0644;
  st->st_nlink = 1;
  st->st_size = b.st_size;
  st->st_blocks = b.st_blocks;
  st->st_blksize = 4096;
  return 0;
}

static void c3_init(void *userdata, struct fuse_conn_info *conn) {
  (void)userdata;
  conn->max_write = 256 * 4096;
  conn->max_background = 64;
  conn->congestion_threshold = 48;
  conn->want &= ~(FUSE_CAP_ATOMIC_O_TRUNC | FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
}

static void c3_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  struct fuse_entry_param e;
  memset(&e, 0, sizeof e);
  if (parent != FUSE_ROOT_ID || strcmp(name, file_name) != 0) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  e.ino = FILE_INO;
  int err = stat_of(FILE_INO, &e.attr);
  if (err) fuse_reply_err(req, err);
  else fuse_reply_entry(req, &e);
}

static void c3_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void)fi;
  struct stat st;
  int err = stat_of(ino, &st);
  if (err) fuse_reply_err(req, err);
  else fuse_reply_attr(req, &st, 0);
}

static void c3_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi) {
  (void)attr, (void)to_set;
  c3_getattr(req, ino, fi); /* a fixed-size device: truncate is accepted and ignored */
}

static void c3_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void)fi;
  if (ino != FILE_INO) {
    fuse_reply_err(req, EISDIR);
    return;
  }
  struct open_out o = { .fh = 0, .open_flags = (1u << 0) | (1u << 6) }; /* DIRECT_IO | PARALLEL_DIRECT_WRITES */
  fuse_reply_buf(req, (const char *)&o, sizeof o);
}

static void c3_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  (void)ino, (void)fi;
  char *buf = malloc(size ? size : 1);
  ssize_t n = pread(backing_fd, buf, size, off);
  if (n < 0) fuse_reply_err(req, errno);
  else fuse_reply_buf(req, buf, (size_t)n);
  free(buf);
}

static void c3_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  (void)ino, (void)fi;
  ssize_t n = pwrite(backing_fd, buf, size, off);
  if (n < 0) fuse_reply_err(req, errno);
  else fuse_reply_write(req, (size_t)n);
}

static void c3_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  (void)fi;
  if (ino != FUSE_ROOT_ID) {
    fuse_reply_err(req, ENOTDIR);
    return;
  }
  char buf[4096];
  size_t used = 0;
  const char *names[] = { ".", "..", file_name };
  fuse_ino_t inos[] = { FUSE_ROOT_ID, FUSE_ROOT_ID, FILE_INO };
  for (off_t i = off; i < 3; i++) {
    struct stat st = { .st_ino = inos[i], .st_mode = i < 2 ? S_IFDIR : S_IFREG };
    size_t len = fuse_add_direntry(req, buf + used, sizeof buf - used, names[i], &st, i + 1);
    if (used + len > size || used + len > sizeof buf) break;
    used += len;
  }
  fuse_reply_buf(req, buf, used);
}

static void c3_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  (void)ino, (void)datasync, (void)fi;
  fuse_reply_err(req, fdatasync(backing_fd) ? errno : 0);
}

static const struct fuse_lowlevel_ops ops = {
  .init = c3_init, .lookup = c3_lookup, .getattr = c3_getattr, .setattr = c3_setattr, .open = c3_open,
  .read = c3_read, .write = c3_write, .readdir = c3_readdir, .fsync = c3_fsync,
};

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s BACKING MOUNTPOINT NAME\n", argv[0]);
    return 2;
  }
  backing_fd = open(argv[1], O_RDWR);
  if (backing_fd < 0) {
    perror(argv[1]);
    return 1;
  }
  file_name = argv[3];
  char *args[] = { argv[0], "-o", "fsname=c3-passthrough,subtype=c3", NULL };
  struct fuse_args fargs = FUSE_ARGS_INIT(3, args);
  struct fuse_session *se = fuse_session_new(&fargs, &ops, sizeof ops, NULL);
  if (!se) return 1;
  if (fuse_set_signal_handlers(se) != 0 || fuse_session_mount(se, argv[2]) != 0) return 1;
  printf("mounted %s\n", argv[2]);
  fflush(stdout);
  struct fuse_loop_config *cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(cfg, 16);
  int r = fuse_session_loop_mt(se, cfg);
  fuse_loop_cfg_destroy(cfg);
  fuse_session_unmount(se);
  fuse_remove_signal_handlers(se);
  fuse_session_destroy(se);
  return r ? 1 : 0;
}
