/*
 * zonefuse's libfuse3 binding: a Node-API addon over libfuse 3's low-level API.
 *
 * One receive thread reads requests from /dev/fuse into a pool of request buffers ("slots",
 * one request each, 1 MiB + 4 KiB: libfuse 3.14's largest request) and lets libfuse decode them.
 * Our low-level callbacks (still on the receive thread) only describe the request in the slot's
 * descriptor (an array of doubles in a shared "control" buffer) and queue the slot; one
 * thread-safe-function call wakes the JS thread for however many requests queued up meanwhile.
 * JS reads the descriptors, serves the requests, and replies through reply(), which writes the
 * answer to /dev/fuse from the JS thread and frees the slot. A slot is busy from receive to
 * reply, so write payloads and lookup names are read in place, and read data is produced in
 * place: JS wraps every slot buffer once (external ArrayBuffers, never re-wrapped) and never
 * copies a payload. A reply may come later (a write held until its zone's write pointer reaches
 * it): the slot simply stays busy.
 *
 * Every open is answered by hand (struct fuse_open_out) so that FOPEN_PARALLEL_DIRECT_WRITES can
 * be set: libfuse 3.14.0's fuse_file_info has no field for it (3.14.1 added one and moved the
 * later bitfields, so this file must only ever be built against the installed 3.14.0 header,
 * which build.sh checks).
 *
 * libfuse installs no signal handlers here: the JS side unmounts on SIGINT/SIGTERM. Stopping:
 * an eventfd wakes the receive thread out of poll(), it is joined, then the session unmounts
 * (which closes /dev/fuse and so aborts whatever is still in flight) and is destroyed.
 */
#define FUSE_USE_VERSION 314
#define _GNU_SOURCE
#include <fuse_lowlevel.h>
#include <node_api.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#if FUSE_MAJOR_VERSION != 3 || FUSE_MINOR_VERSION < 12
#error "zonefuse's libfuse3 binding needs libfuse >= 3.12"
#endif

/* <linux/fuse.h> values; libfuse 3.14.0 does not know the last one. */
#define ZF_FOPEN_DIRECT_IO (1u << 0)
#define ZF_FOPEN_PARALLEL_DIRECT_WRITES (1u << 6)

/* The OPEN reply as the kernel reads it (struct fuse_open_out). */
struct zf_open_out {
  uint64_t fh;
  uint32_t open_flags;
  uint32_t padding;
};

/* Requests handed to JS (the descriptor's field 0). Keep in sync with src/fuse/libfuse3/addon.ts. */
enum zf_op {
  OP_LOOKUP = 1,
  OP_GETATTR,
  OP_SETATTR,
  OP_OPEN,
  OP_READ,
  OP_WRITE,
  OP_FLUSH,
  OP_RELEASE,
  OP_FSYNC,
  OP_OPENDIR,
  OP_READDIR,
  OP_RELEASEDIR,
  OP_STATFS,
};

/* Replies (reply()'s second argument). */
enum zf_reply {
  REPLY_ERR = 0,
  REPLY_ENTRY,
  REPLY_ATTR,
  REPLY_OPEN,
  REPLY_WRITE,
  REPLY_BUF,
  REPLY_STATFS,
};

/* Events passed with a batch (dispatch()'s second argument). */
#define EVT_INIT 1
#define EVT_EXITED 2

/* Descriptor: DESC_DOUBLES doubles per slot. Request fields first, reply fields from D_REPLY. */
#define DESC_DOUBLES 32
enum zf_desc {
  D_OP = 0, D_INO, D_FH, D_OFFSET, D_SIZE, D_FLAGS, D_DATA_OFF, D_DATA_LEN, D_ATTR_SIZE, D_PID,
  D_UID, D_GID,
  D_REPLY = 16,
  /* attr: ino mode nlink uid gid size blocks blksize atime mtime ctime (times in ms) */
  /* statfs: bsize frsize blocks bfree bavail files ffree namemax */
};

#define SLOT_BYTES ((size_t)(256 * 4096 + 4096))
#define MAX_SLOTS 1024

enum slot_state { SLOT_FREE, SLOT_RECV, SLOT_QUEUED, SLOT_JS };

struct slot {
  char *mem;
  fuse_req_t req;
  enum slot_state state;
};

struct session {
  struct fuse_session *se;
  int nslots;
  struct slot *slots;
  double *desc;    /* nslots * DESC_DOUBLES, inside ctl */
  int32_t *batch;  /* nslots indices, inside ctl */
  char *ctl;

  pthread_mutex_t lock;
  pthread_cond_t slot_freed;
  int *free_stack; /* LIFO: the same few slots stay hot (and their pages resident) */
  int nfree;
  int *pending;    /* FIFO ring of queued slots */
  int pending_head, pending_count;
  int wake_pending;
  int events;
  int stopping;
  int thread_running;
  int dead;        /* unmounted: replies are ignored */

  int stop_fd;
  pthread_t thread;
  struct slot *current; /* the slot the receive thread is decoding */
  napi_threadsafe_function tsfn;
  int mounted;
};

/* ---------------------------------------------------------------------------------------------
 * libfuse's messages: kept (the last one explains a failed mount) and written to stderr. */

static char last_log[512];
static void zf_log(enum fuse_log_level level, const char *fmt, va_list ap) {
  char line[512];
  vsnprintf(line, sizeof line, fmt, ap);
  size_t n = strlen(line);
  while (n > 0 && line[n - 1] == '\n') line[--n] = 0;
  if (level <= FUSE_LOG_ERR) memcpy(last_log, line, n + 1);
  if (level <= FUSE_LOG_NOTICE) fprintf(stderr, "libfuse3: %s\n", line);
}

/* ---------------------------------------------------------------------------------------------
 * Receive thread side */

static void enqueue(struct session *s, struct slot *sl) {
  int idx = (int)(sl - s->slots);
  int wake = 0;
  pthread_mutex_lock(&s->lock);
  sl->state = SLOT_QUEUED;
  s->pending[(s->pending_head + s->pending_count) % s->nslots] = idx;
  s->pending_count++;
  if (!s->wake_pending) s->wake_pending = wake = 1;
  pthread_mutex_unlock(&s->lock);
  if (wake) napi_call_threadsafe_function(s->tsfn, NULL, napi_tsfn_nonblocking);
}

static void post_event(struct session *s, int ev) {
  int wake = 0;
  pthread_mutex_lock(&s->lock);
  s->events |= ev;
  if (!s->wake_pending) s->wake_pending = wake = 1;
  pthread_mutex_unlock(&s->lock);
  if (wake) napi_call_threadsafe_function(s->tsfn, NULL, napi_tsfn_nonblocking);
}

/* Describe the request in the current slot and hand it to JS. */
static double *begin(fuse_req_t req, enum zf_op op, fuse_ino_t ino) {
  struct session *s = fuse_req_userdata(req);
  struct slot *sl = s->current;
  double *d = s->desc + (size_t)(sl - s->slots) * DESC_DOUBLES;
  const struct fuse_ctx *ctx = fuse_req_ctx(req);
  sl->req = req;
  d[D_OP] = op;
  d[D_INO] = (double)ino;
  d[D_FH] = 0;
  d[D_OFFSET] = 0;
  d[D_SIZE] = 0;
  d[D_FLAGS] = 0;
  d[D_DATA_OFF] = 0;
  d[D_DATA_LEN] = 0;
  d[D_PID] = ctx->pid;
  d[D_UID] = ctx->uid;
  d[D_GID] = ctx->gid;
  return d;
}

static void finish(fuse_req_t req) {
  struct session *s = fuse_req_userdata(req);
  enqueue(s, s->current);
}

static double offset_in_slot(fuse_req_t req, const char *p) {
  struct session *s = fuse_req_userdata(req);
  return (double)(p - s->current->mem);
}

static void zf_init(void *userdata, struct fuse_conn_info *conn) {
  struct session *s = userdata;
  /* 1 MiB requests (the slot size), asynchronous direct I/O, more background requests in flight
   * (async DIO requests are background requests; the default of 12 limits iodepth). */
  conn->max_write = 256 * 4096;
  conn->max_background = 64;
  conn->congestion_threshold = 48;
  if (conn->capable & FUSE_CAP_ASYNC_DIO) conn->want |= FUSE_CAP_ASYNC_DIO;
  /* The same file semantics as the libfuse2 backend: open(O_TRUNC) arrives as open + truncate,
   * no page cache anywhere, payloads in our buffers (no splice). */
  conn->want &= ~(FUSE_CAP_ATOMIC_O_TRUNC | FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_SPLICE_READ |
                  FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE | FUSE_CAP_READDIRPLUS |
                  FUSE_CAP_READDIRPLUS_AUTO);
  post_event(s, EVT_INIT);
}

static void zf_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  double *d = begin(req, OP_LOOKUP, parent);
  d[D_DATA_OFF] = offset_in_slot(req, name);
  d[D_DATA_LEN] = (double)strlen(name);
  finish(req);
}

static void zf_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  double *d = begin(req, OP_GETATTR, ino);
  d[D_FH] = fi ? (double)fi->fh : -1;
  finish(req);
}

static void zf_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi) {
  double *d = begin(req, OP_SETATTR, ino);
  d[D_FH] = fi ? (double)fi->fh : -1;
  d[D_FLAGS] = to_set;
  d[D_ATTR_SIZE] = (double)attr->st_size;
  finish(req);
}

static void zf_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  double *d = begin(req, OP_OPEN, ino);
  d[D_FLAGS] = fi->flags;
  finish(req);
}

static void zf_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  double *d = begin(req, OP_READ, ino);
  d[D_FH] = (double)fi->fh;
  d[D_OFFSET] = (double)off;
  /* The reply is built in the slot: never more than it holds. */
  d[D_SIZE] = (double)(size > SLOT_BYTES ? SLOT_BYTES : size);
  finish(req);
}

static void zf_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi) {
  double *d = begin(req, OP_WRITE, ino);
  d[D_FH] = (double)fi->fh;
  d[D_OFFSET] = (double)off;
  d[D_SIZE] = (double)size;
  d[D_DATA_OFF] = offset_in_slot(req, buf);
  d[D_FLAGS] = fi->flags;
  finish(req);
}

static void zf_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  begin(req, OP_FLUSH, ino)[D_FH] = (double)fi->fh;
  finish(req);
}

static void zf_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  begin(req, OP_RELEASE, ino)[D_FH] = (double)fi->fh;
  finish(req);
}

static void zf_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  double *d = begin(req, OP_FSYNC, ino);
  d[D_FH] = (double)fi->fh;
  d[D_FLAGS] = datasync;
  finish(req);
}

static void zf_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  begin(req, OP_OPENDIR, ino)[D_FLAGS] = fi->flags;
  finish(req);
}

static void zf_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  double *d = begin(req, OP_READDIR, ino);
  d[D_FH] = (double)fi->fh;
  d[D_OFFSET] = (double)off;
  d[D_SIZE] = (double)(size > SLOT_BYTES ? SLOT_BYTES : size);
  finish(req);
}

static void zf_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  begin(req, OP_RELEASEDIR, ino)[D_FH] = (double)fi->fh;
  finish(req);
}

static void zf_statfs(fuse_req_t req, fuse_ino_t ino) {
  begin(req, OP_STATFS, ino);
  finish(req);
}

/* The tree is fixed: nothing is created, removed, renamed or linked (zonefs: EPERM). Answered
 * here, without a trip to JS. */
static void eperm_mknod(fuse_req_t r, fuse_ino_t p, const char *n, mode_t m, dev_t d) {
  (void)p, (void)n, (void)m, (void)d;
  fuse_reply_err(r, EPERM);
}
static void eperm_mkdir(fuse_req_t r, fuse_ino_t p, const char *n, mode_t m) {
  (void)p, (void)n, (void)m;
  fuse_reply_err(r, EPERM);
}
static void eperm_unlink(fuse_req_t r, fuse_ino_t p, const char *n) {
  (void)p, (void)n;
  fuse_reply_err(r, EPERM);
}
static void eperm_symlink(fuse_req_t r, const char *l, fuse_ino_t p, const char *n) {
  (void)l, (void)p, (void)n;
  fuse_reply_err(r, EPERM);
}
static void eperm_rename(fuse_req_t r, fuse_ino_t p, const char *n, fuse_ino_t np, const char *nn,
                         unsigned int f) {
  (void)p, (void)n, (void)np, (void)nn, (void)f;
  fuse_reply_err(r, EPERM);
}
static void eperm_link(fuse_req_t r, fuse_ino_t i, fuse_ino_t np, const char *nn) {
  (void)i, (void)np, (void)nn;
  fuse_reply_err(r, EPERM);
}
static void eperm_create(fuse_req_t r, fuse_ino_t p, const char *n, mode_t m, struct fuse_file_info *fi) {
  (void)p, (void)n, (void)m, (void)fi;
  fuse_reply_err(r, EPERM);
}

static const struct fuse_lowlevel_ops zf_ops = {
  .init = zf_init,
  .lookup = zf_lookup,
  .getattr = zf_getattr,
  .setattr = zf_setattr,
  .open = zf_open,
  .read = zf_read,
  .write = zf_write,
  .flush = zf_flush,
  .release = zf_release,
  .fsync = zf_fsync,
  .opendir = zf_opendir,
  .readdir = zf_readdir,
  .releasedir = zf_releasedir,
  .statfs = zf_statfs,
  .mknod = eperm_mknod,
  .mkdir = eperm_mkdir,
  .unlink = eperm_unlink,
  .rmdir = eperm_unlink,
  .symlink = eperm_symlink,
  .rename = eperm_rename,
  .link = eperm_link,
  .create = eperm_create,
};

static struct slot *take_slot(struct session *s) {
  struct slot *sl = NULL;
  pthread_mutex_lock(&s->lock);
  while (s->nfree == 0 && !s->stopping) pthread_cond_wait(&s->slot_freed, &s->lock);
  if (!s->stopping) {
    sl = &s->slots[s->free_stack[--s->nfree]];
    sl->state = SLOT_RECV;
  }
  pthread_mutex_unlock(&s->lock);
  return sl;
}

static void put_slot_locked(struct session *s, struct slot *sl) {
  sl->state = SLOT_FREE;
  sl->req = NULL;
  s->free_stack[s->nfree++] = (int)(sl - s->slots);
  pthread_cond_signal(&s->slot_freed);
}

static void put_slot(struct session *s, struct slot *sl) {
  pthread_mutex_lock(&s->lock);
  put_slot_locked(s, sl);
  pthread_mutex_unlock(&s->lock);
}

static void *receive_loop(void *arg) {
  struct session *s = arg;
  /* Named, so that its CPU time shows apart from the JS thread's (top -H, /proc/PID/task). */
  pthread_setname_np(pthread_self(), "zf-receive");
  struct pollfd fds[2] = {
    { .fd = fuse_session_fd(s->se), .events = POLLIN },
    { .fd = s->stop_fd, .events = POLLIN },
  };
  while (!fuse_session_exited(s->se)) {
    struct slot *sl = take_slot(s);
    if (!sl) break;
    int r = poll(fds, 2, -1);
    if (r < 0 && errno == EINTR) {
      put_slot(s, sl);
      continue;
    }
    if (r < 0 || (fds[1].revents & POLLIN)) {
      put_slot(s, sl);
      break;
    }
    struct fuse_buf fbuf;
    memset(&fbuf, 0, sizeof fbuf);
    fbuf.mem = sl->mem;
    fbuf.size = SLOT_BYTES;
    fbuf.fd = -1;
    int res = fuse_session_receive_buf(s->se, &fbuf);
    if (res == -EINTR || res == -EAGAIN) {
      put_slot(s, sl);
      continue;
    }
    if (res <= 0) {
      put_slot(s, sl);
      break;
    }
    s->current = sl;
    fuse_session_process_buf(s->se, &fbuf);
    s->current = NULL;
    pthread_mutex_lock(&s->lock);
    /* Answered inside libfuse or in C (forget, interrupt, init, EPERM): reuse the slot. */
    if (sl->state == SLOT_RECV) put_slot_locked(s, sl);
    pthread_mutex_unlock(&s->lock);
  }
  pthread_mutex_lock(&s->lock);
  int stopping = s->stopping;
  pthread_mutex_unlock(&s->lock);
  /* Ended by itself: unmounted from outside, or the connection was aborted. */
  if (!stopping) post_event(s, EVT_EXITED);
  return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * JS thread side */

static napi_value throw_error(napi_env env, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  napi_throw_error(env, NULL, msg);
  return NULL;
}

#define CHECK(call)                                                                   \
  do {                                                                                \
    if ((call) != napi_ok) return throw_error(env, "zonefuse-fuse3: %s failed", #call); \
  } while (0)

/* Drain the queue into the batch array and call dispatch(count, events). */
static void call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)data;
  struct session *s = context;
  if (env == NULL) return;
  pthread_mutex_lock(&s->lock);
  int n = s->pending_count;
  for (int i = 0; i < n; i++) {
    int idx = s->pending[(s->pending_head + i) % s->nslots];
    s->batch[i] = idx;
    s->slots[idx].state = SLOT_JS;
  }
  s->pending_head = (s->pending_head + n) % s->nslots;
  s->pending_count = 0;
  int ev = s->events;
  s->events = 0;
  s->wake_pending = 0;
  pthread_mutex_unlock(&s->lock);
  if (n == 0 && ev == 0) return;
  napi_value argv[2], undefined;
  napi_create_int32(env, n, &argv[0]);
  napi_create_int32(env, ev, &argv[1]);
  napi_get_undefined(env, &undefined);
  napi_call_function(env, undefined, js_cb, 2, argv, NULL);
}

static void fill_stat(struct stat *st, const double *r) {
  memset(st, 0, sizeof *st);
  st->st_ino = (ino_t)r[0];
  st->st_mode = (mode_t)r[1];
  st->st_nlink = (nlink_t)r[2];
  st->st_uid = (uid_t)r[3];
  st->st_gid = (gid_t)r[4];
  st->st_size = (off_t)r[5];
  st->st_blocks = (blkcnt_t)r[6];
  st->st_blksize = (blksize_t)r[7];
  const double t[3] = { r[8], r[9], r[10] };
  struct timespec *ts[3] = { &st->st_atim, &st->st_mtim, &st->st_ctim };
  for (int i = 0; i < 3; i++) {
    double ms = t[i] < 0 ? 0 : t[i];
    ts[i]->tv_sec = (time_t)(ms / 1000);
    ts[i]->tv_nsec = (long)((ms - (double)ts[i]->tv_sec * 1000) * 1e6);
  }
}

/* reply(slot, kind, a, b) -> 0 or -errno (the kernel no longer waits, e.g. an interrupted open).
 * ERR: a = errno (0 = success for flush/release/fsync/setattr-less replies)
 * ENTRY / ATTR: attributes in the descriptor's reply fields
 * OPEN: a = fh, b = FOPEN flags     WRITE: a = count     BUF: a = length, b = offset in the slot
 * STATFS: in the descriptor's reply fields */
static napi_value js_reply(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  void *data;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, &data));
  struct session *s = data;
  int32_t idx = -1, kind = -1;
  double a = 0, b = 0;
  if (argc < 2) return throw_error(env, "reply(slot, kind, a, b): too few arguments");
  napi_get_value_int32(env, argv[0], &idx);
  napi_get_value_int32(env, argv[1], &kind);
  if (argc > 2) napi_get_value_double(env, argv[2], &a);
  if (argc > 3) napi_get_value_double(env, argv[3], &b);
  if (idx < 0 || idx >= s->nslots) return throw_error(env, "reply: no slot %d", idx);
  struct slot *sl = &s->slots[idx];
  napi_value out;
  if (s->dead || sl->state != SLOT_JS) {
    /* Already answered, or the session is gone: nothing to send. */
    napi_create_int32(env, -EBADF, &out);
    return out;
  }
  const double *r = s->desc + (size_t)idx * DESC_DOUBLES + D_REPLY;
  fuse_req_t req = sl->req;
  int res;
  switch (kind) {
    case REPLY_ERR:
      res = fuse_reply_err(req, (int)a);
      break;
    case REPLY_ENTRY: {
      struct fuse_entry_param e;
      memset(&e, 0, sizeof e);
      e.ino = (fuse_ino_t)r[0];
      fill_stat(&e.attr, r);
      res = fuse_reply_entry(req, &e); /* timeouts 0: sizes and names change behind the kernel */
      break;
    }
    case REPLY_ATTR: {
      struct stat st;
      fill_stat(&st, r);
      res = fuse_reply_attr(req, &st, 0);
      break;
    }
    case REPLY_OPEN: {
      struct zf_open_out o;
      memset(&o, 0, sizeof o);
      o.fh = (uint64_t)a;
      o.open_flags = (uint32_t)b;
      res = fuse_reply_buf(req, (const char *)&o, sizeof o);
      break;
    }
    case REPLY_WRITE:
      res = fuse_reply_write(req, (size_t)a);
      break;
    case REPLY_BUF: {
      size_t len = (size_t)a, off = (size_t)b;
      if (off > SLOT_BYTES || len > SLOT_BYTES - off) res = fuse_reply_err(req, EIO);
      else res = fuse_reply_buf(req, sl->mem + off, len);
      break;
    }
    case REPLY_STATFS: {
      struct statvfs st;
      memset(&st, 0, sizeof st);
      st.f_bsize = (unsigned long)r[0];
      st.f_frsize = (unsigned long)r[1];
      st.f_blocks = (fsblkcnt_t)r[2];
      st.f_bfree = (fsblkcnt_t)r[3];
      st.f_bavail = (fsblkcnt_t)r[4];
      st.f_files = (fsfilcnt_t)r[5];
      st.f_ffree = (fsfilcnt_t)r[6];
      st.f_namemax = (unsigned long)r[7];
      res = fuse_reply_statfs(req, &st);
      break;
    }
    default:
      res = fuse_reply_err(req, EIO);
      break;
  }
  pthread_mutex_lock(&s->lock);
  put_slot_locked(s, sl);
  pthread_mutex_unlock(&s->lock);
  napi_create_int32(env, res, &out);
  return out;
}

/* Every request the kernel still waits for gets EIO (or nothing, once the fd is closed). */
static void answer_all(struct session *s, int err) {
  pthread_mutex_lock(&s->lock);
  for (int i = 0; i < s->nslots; i++) {
    struct slot *sl = &s->slots[i];
    if (sl->state == SLOT_QUEUED || sl->state == SLOT_JS) {
      fuse_reply_err(sl->req, err);
      put_slot_locked(s, sl);
    }
  }
  s->pending_count = 0;
  pthread_mutex_unlock(&s->lock);
}

static void stop_session(struct session *s, napi_env env);

/* The environment goes away (a worker ends, node exits without unmounting): stop the receive
 * thread before the slot memory it reads into can be freed. */
static void env_cleanup(void *arg) {
  struct session *s = arg;
  stop_session(s, NULL);
}

/* unmount(): stop the receive thread, unmount, destroy the session. Idempotent. */
static napi_value js_unmount(napi_env env, napi_callback_info info) {
  void *data;
  CHECK(napi_get_cb_info(env, info, NULL, NULL, NULL, &data));
  stop_session(data, env);
  return NULL;
}

static void stop_session(struct session *s, napi_env env) {
  if (s->dead) return;
  pthread_mutex_lock(&s->lock);
  s->stopping = 1;
  pthread_cond_broadcast(&s->slot_freed);
  pthread_mutex_unlock(&s->lock);
  uint64_t one = 1;
  if (write(s->stop_fd, &one, sizeof one) < 0) { /* the thread also ends on ENODEV */ }
  if (s->thread_running) {
    pthread_join(s->thread, NULL);
    s->thread_running = 0;
  }
  answer_all(s, EIO);
  s->dead = 1;
  if (s->mounted) fuse_session_unmount(s->se);
  s->mounted = 0;
  fuse_session_destroy(s->se);
  s->se = NULL;
  close(s->stop_fd);
  if (env) {
    napi_remove_env_cleanup_hook(env, env_cleanup, s);
    napi_release_threadsafe_function(s->tsfn, napi_tsfn_release);
  }
}

/* The memory of slots and of the control block is freed when JS lets go of its ArrayBuffer (never
 * earlier: V8 must not see a second ArrayBuffer at an address it still knows). */
static void free_memory(napi_env env, void *mem, void *hint) {
  (void)env, (void)hint;
  free(mem);
}

static void free_session(napi_env env, void *data, void *hint) {
  (void)env, (void)hint;
  struct session *s = data;
  if (!s->dead) return; /* still mounted: the process is exiting; the kernel cleans up */
  pthread_mutex_destroy(&s->lock);
  pthread_cond_destroy(&s->slot_freed);
  free(s->slots);
  free(s->free_stack);
  free(s->pending);
  free(s);
}

static napi_value make_fn(napi_env env, const char *name, napi_callback cb, struct session *s) {
  napi_value fn;
  if (napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, s, &fn) != napi_ok) return NULL;
  return fn;
}

/*
 * mount(mountpoint, options[], nslots, dispatch) -> { ctl, slots[], slotBytes, reply, unmount }
 * options are fuse_session_new's arguments after argv[0], e.g. ["-o", "fsname=x,subtype=y"].
 * Throws with libfuse's message when the session cannot be created or mounted.
 */
static napi_value js_mount(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) return throw_error(env, "mount(mountpoint, options, nslots, dispatch): too few arguments");
  char mnt[4096];
  size_t mlen;
  if (napi_get_value_string_utf8(env, argv[0], mnt, sizeof mnt, &mlen) != napi_ok || mlen >= sizeof mnt - 1)
    return throw_error(env, "mount: bad mount point");
  uint32_t nopts;
  if (napi_get_array_length(env, argv[1], &nopts) != napi_ok || nopts > 32)
    return throw_error(env, "mount: options must be an array of at most 32 strings");
  int32_t nslots;
  if (napi_get_value_int32(env, argv[2], &nslots) != napi_ok || nslots < 4 || nslots > MAX_SLOTS)
    return throw_error(env, "mount: nslots must be 4..%d", MAX_SLOTS);

  char *args[34];
  int nargs = 0;
  args[nargs++] = strdup("zonefuse");
  for (uint32_t i = 0; i < nopts; i++) {
    napi_value v;
    char buf[2048];
    size_t len;
    napi_get_element(env, argv[1], i, &v);
    if (napi_get_value_string_utf8(env, v, buf, sizeof buf, &len) != napi_ok || len >= sizeof buf - 1) {
      for (int j = 0; j < nargs; j++) free(args[j]);
      return throw_error(env, "mount: option %u is not a string (or too long)", i);
    }
    args[nargs++] = strdup(buf);
  }
  struct fuse_args fargs = FUSE_ARGS_INIT(nargs, args);

  struct session *s = calloc(1, sizeof *s);
  s->nslots = nslots;
  s->slots = calloc((size_t)nslots, sizeof *s->slots);
  s->free_stack = calloc((size_t)nslots, sizeof(int));
  s->pending = calloc((size_t)nslots, sizeof(int));
  size_t ctl_bytes = (size_t)nslots * DESC_DOUBLES * sizeof(double) + (size_t)nslots * sizeof(int32_t);
  if (posix_memalign((void **)&s->ctl, 64, ctl_bytes) != 0) s->ctl = NULL;
  int ok = s->slots && s->free_stack && s->pending && s->ctl;
  for (int i = 0; ok && i < nslots; i++) {
    if (posix_memalign((void **)&s->slots[i].mem, 4096, SLOT_BYTES) != 0) ok = 0;
  }
  if (!ok) {
    for (int j = 0; j < nargs; j++) free(args[j]);
    return throw_error(env, "mount: out of memory for %d request buffers", nslots);
  }
  memset(s->ctl, 0, ctl_bytes);
  s->desc = (double *)s->ctl;
  s->batch = (int32_t *)(s->ctl + (size_t)nslots * DESC_DOUBLES * sizeof(double));
  for (int i = nslots - 1; i >= 0; i--) s->free_stack[s->nfree++] = i;
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->slot_freed, NULL);

  /* JS owns the memory from here on (freed by the ArrayBuffers' finalizers). */
  napi_value result, ctl, slots, fn;
  CHECK(napi_create_object(env, &result));
  CHECK(napi_create_external_arraybuffer(env, s->ctl, ctl_bytes, free_memory, NULL, &ctl));
  CHECK(napi_set_named_property(env, result, "ctl", ctl));
  CHECK(napi_create_array_with_length(env, (size_t)nslots, &slots));
  for (int i = 0; i < nslots; i++) {
    napi_value ab;
    CHECK(napi_create_external_arraybuffer(env, s->slots[i].mem, SLOT_BYTES, free_memory, NULL, &ab));
    CHECK(napi_set_element(env, slots, (uint32_t)i, ab));
  }
  CHECK(napi_set_named_property(env, result, "slots", slots));
  napi_value handle;
  CHECK(napi_create_external(env, s, free_session, NULL, &handle));
  CHECK(napi_set_named_property(env, result, "handle", handle));

  fuse_set_log_func(zf_log);
  last_log[0] = 0;
  s->se = fuse_session_new(&fargs, &zf_ops, sizeof zf_ops, s);
  fuse_opt_free_args(&fargs);
  if (!s->se) {
    s->dead = 1;
    return throw_error(env, "libfuse3: cannot create the session%s%s", last_log[0] ? ": " : "", last_log);
  }
  s->stop_fd = eventfd(0, EFD_CLOEXEC);
  napi_value name;
  CHECK(napi_create_string_utf8(env, "zonefuse-fuse3", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_threadsafe_function(env, argv[3], NULL, name, 0, 1, NULL, NULL, s, call_js, &s->tsfn));

  if (fuse_session_mount(s->se, mnt) != 0) {
    fuse_session_destroy(s->se);
    s->se = NULL;
    s->dead = 1;
    close(s->stop_fd);
    napi_release_threadsafe_function(s->tsfn, napi_tsfn_abort);
    return throw_error(env, "libfuse3: cannot mount %s%s%s", mnt, last_log[0] ? ": " : "", last_log);
  }
  s->mounted = 1;
  if (pthread_create(&s->thread, NULL, receive_loop, s) != 0) {
    fuse_session_unmount(s->se);
    fuse_session_destroy(s->se);
    s->se = NULL;
    s->dead = 1;
    close(s->stop_fd);
    napi_release_threadsafe_function(s->tsfn, napi_tsfn_abort);
    return throw_error(env, "libfuse3: cannot start the receive thread");
  }
  s->thread_running = 1;
  napi_add_env_cleanup_hook(env, env_cleanup, s);

  if (!(fn = make_fn(env, "reply", js_reply, s))) return throw_error(env, "mount: napi_create_function failed");
  CHECK(napi_set_named_property(env, result, "reply", fn));
  if (!(fn = make_fn(env, "unmount", js_unmount, s))) return throw_error(env, "mount: napi_create_function failed");
  CHECK(napi_set_named_property(env, result, "unmount", fn));
  napi_value n;
  CHECK(napi_create_double(env, (double)SLOT_BYTES, &n));
  CHECK(napi_set_named_property(env, result, "slotBytes", n));
  return result;
}

static napi_value init_module(napi_env env, napi_value exports) {
  napi_value fn, v;
  CHECK(napi_create_function(env, "mount", NAPI_AUTO_LENGTH, js_mount, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "mount", fn));
  CHECK(napi_create_int32(env, FUSE_VERSION, &v));
  CHECK(napi_set_named_property(env, exports, "fuseVersion", v));
  CHECK(napi_create_int32(env, DESC_DOUBLES, &v));
  CHECK(napi_set_named_property(env, exports, "descDoubles", v));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init_module)
