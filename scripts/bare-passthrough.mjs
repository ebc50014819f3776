#!/usr/bin/env node
// Baseline for benchmarks: the thinnest possible fuse-native daemon, so that zonefuse's own
// overhead can be measured against "fuse-native + one pread/pwrite per request".
//
//   node scripts/bare-passthrough.mjs <backing-file> <mountpoint> <name> [options]
//
//   (default)        exposes <mountpoint>/<name>, a passthrough of the whole backing file
//   --files N        exposes <name>0 … <name>N-1 (e.g. f0..f3), for N parallel writers on N inodes.
//                    Each is a fixed-size slice of the backing file: slice i is
//                    [i*S, (i+1)*S) with S = floor(backing size / N / 4096) * 4096.
//   --separate       with --files: back <name>i by its own file <backing-file>.<i> instead of slices
//   --size BYTES     first extend the backing file(s) (sparsely) to at least BYTES (k/m/g suffixes)
//
// Slices have a fixed size: writes past the end get ENOSPC, and truncate/ftruncate are accepted
// and ignored (so that `dd` without conv=notrunc still works). Whole files are real passthroughs
// (writes extend, truncate truncates).
//
// Handlers are synchronous (fs.readSync/writeSync: faster than async here, see
// /work/shared/reference/fuse-native.md §1), never throw, and never call back with null.
// Mount options are the same as src/fuse/mount-options.ts (this script is plain JS so that it
// runs without a build): direct_io,big_writes,max_write=131072 plus attr/entry/negative
// timeouts of 0, added by overriding fuse-native's private _fuseOptions(), and timeout:false.
// Drive the mount from OTHER processes only (a sync fs call on the own mount deadlocks).
// SIGINT/SIGTERM unmount (fusermount -uz) and exit.
import fs from 'node:fs';
import path from 'node:path';
import Fuse from 'fuse-native';

const EXTRA_FUSE_OPTIONS = [
  'direct_io',
  'big_writes',
  'max_write=131072',
  'attr_timeout=0',
  'entry_timeout=0',
  'negative_timeout=0',
];

function usage(msg) {
  if (msg) console.error(`bare-passthrough: ${msg}`);
  console.error(
    'usage: node scripts/bare-passthrough.mjs <backing-file> <mountpoint> <name> [--files N] [--separate] [--size BYTES]',
  );
  process.exit(2);
}

function parseSize(s) {
  const m = /^(\d+)([kmgt]?)(i?b?)$/i.exec(String(s));
  if (!m) usage(`bad size ${s}`);
  return Number(m[1]) * 1024 ** ' kmgt'.indexOf((m[2] || ' ').toLowerCase());
}

// ---- arguments
const positional = [];
let nFiles = 0;
let separate = false;
let minSize = 0;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--files') nFiles = Number(argv[++i]);
  else if (a === '--separate') separate = true;
  else if (a === '--size') minSize = parseSize(argv[++i]);
  else if (a === '-h' || a === '--help') usage();
  else if (a.startsWith('--')) usage(`unknown option ${a}`);
  else positional.push(a);
}
if (positional.length !== 3) usage();
const [backingPath, mountpoint, name] = positional;
if (!Number.isInteger(nFiles) || nFiles < 0 || nFiles > 1024) usage('--files wants 1..1024');
if (separate && !nFiles) usage('--separate needs --files N');
if (name.includes('/') || name === '') usage('name must be a plain file name');

// ---- backing files and the exposed table
function openBacking(p) {
  const fd = fs.openSync(p, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
  if (minSize && fs.fstatSync(fd).size < minSize) fs.ftruncateSync(fd, minSize);
  return fd;
}

/** @type {{ path: string, fd: number, base: number, size: number, fixed: boolean }[]} */
const files = [];
const backingFds = [];
if (!nFiles) {
  const fd = openBacking(backingPath);
  backingFds.push(fd);
  files.push({ path: '/' + name, fd, base: 0, size: -1, fixed: false });
} else if (separate) {
  for (let i = 0; i < nFiles; i++) {
    const fd = openBacking(`${backingPath}.${i}`);
    backingFds.push(fd);
    files.push({ path: `/${name}${i}`, fd, base: 0, size: -1, fixed: false });
  }
} else {
  const fd = openBacking(backingPath);
  backingFds.push(fd);
  const slice = Math.floor(fs.fstatSync(fd).size / nFiles / 4096) * 4096;
  if (slice <= 0) usage(`backing file too small for ${nFiles} slices (use --size)`);
  for (let i = 0; i < nFiles; i++) files.push({ path: `/${name}${i}`, fd, base: i * slice, size: slice, fixed: true });
}
const byPath = new Map(files.map((f, i) => [f.path, i]));

// fh = index + 1 (fuse-native ignores fh 0), so read/write skip the path lookup.
function lookup(p, fh) {
  const f = fh > 0 ? files[fh - 1] : undefined;
  if (f && f.path === p) return f;
  const i = byPath.get(p);
  return i === undefined ? undefined : files[i];
}

function errnoOf(e) {
  const n = e && typeof e.errno === 'number' ? e.errno : 0;
  return n < 0 ? n : n > 0 ? -n : Fuse.EIO; // Node's fs errors carry negative errnos already
}

const startTime = new Date();

const ops = {
  getattr(p, cb) {
    try {
      if (p === '/') return cb(0, { mode: 0o40755, size: 4096, nlink: 2, mtime: startTime, atime: startTime, ctime: startTime });
      const f = lookup(p, 0);
      if (!f) return cb(Fuse.ENOENT);
      const st = fs.fstatSync(f.fd);
      const size = f.fixed ? f.size : st.size;
      cb(0, {
        mode: 0o100644,
        size,
        blocks: f.fixed ? Math.ceil(size / 512) : st.blocks,
        blksize: 4096,
        mtime: st.mtime,
        atime: st.atime,
        ctime: st.ctime,
        uid: process.getuid?.() ?? 0,
        gid: process.getgid?.() ?? 0,
      });
    } catch (e) {
      cb(errnoOf(e));
    }
  },
  readdir(p, cb) {
    if (p !== '/') return cb(Fuse.ENOTDIR);
    cb(0, files.map((f) => f.path.slice(1)));
  },
  open(p, flags, cb) {
    const i = byPath.get(p);
    if (i === undefined) return cb(Fuse.ENOENT);
    cb(0, i + 1);
  },
  read(p, fh, buf, len, pos, cb) {
    try {
      const f = lookup(p, fh);
      if (!f) return cb(Fuse.EBADF);
      if (f.fixed) {
        if (pos >= f.size) return cb(0);
        len = Math.min(len, f.size - pos);
      }
      cb(fs.readSync(f.fd, buf, 0, len, f.base + pos));
    } catch (e) {
      cb(errnoOf(e));
    }
  },
  write(p, fh, buf, len, pos, cb) {
    try {
      const f = lookup(p, fh);
      if (!f) return cb(Fuse.EBADF);
      if (f.fixed && pos + len > f.size) {
        if (pos >= f.size) return cb(Fuse.ENOSPC);
        len = f.size - pos; // short write, like a full device
      }
      cb(fs.writeSync(f.fd, buf, 0, len, f.base + pos));
    } catch (e) {
      cb(errnoOf(e));
    }
  },
  release(p, fh, cb) {
    cb(0);
  },
  fsync(p, datasync, fh, cb) {
    // NB fuse-native passes (path, datasync, fh), not the README's (path, fh, datasync).
    try {
      const f = lookup(p, fh);
      if (!f) return cb(Fuse.EBADF);
      if (datasync) fs.fdatasyncSync(f.fd);
      else fs.fsyncSync(f.fd);
      cb(0);
    } catch (e) {
      cb(errnoOf(e));
    }
  },
  truncate(p, size, cb) {
    try {
      const f = lookup(p, 0);
      if (!f) return cb(Fuse.ENOENT);
      if (!f.fixed) fs.ftruncateSync(f.fd, size);
      cb(0);
    } catch (e) {
      cb(errnoOf(e));
    }
  },
  ftruncate(p, fh, size, cb) {
    ops.truncate(p, size, cb);
  },
};

// ---- mount
const fuse = new Fuse(path.resolve(mountpoint), ops, {
  timeout: false,
  force: true,
  autoUnmount: true,
  fsname: 'bare-passthrough',
  subtype: 'bare-passthrough',
});
// fuse-native has no way to pass direct_io/big_writes/max_write/negative_timeout, and drops
// attrTimeout/entryTimeout when 0: append them to the private option builder's output.
const baseFuseOptions = fuse._fuseOptions;
if (typeof baseFuseOptions !== 'function') {
  console.error('bare-passthrough: fuse-native has no private _fuseOptions(); cannot set direct_io etc.');
  process.exit(1);
}
fuse._fuseOptions = function () {
  const base = baseFuseOptions.call(this);
  if (base !== '' && !base.startsWith('-o')) throw new Error(`unexpected fuse-native option string ${base}`);
  return '-o' + [...(base ? base.slice(2).split(',') : []), ...EXTRA_FUSE_OPTIONS].join(',');
};
const optionString = fuse._fuseOptions();

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  fuse.unmount((err) => {
    if (err) console.error(`bare-passthrough: unmount: ${err.message}`);
    for (const fd of backingFds) fs.closeSync(fd);
    process.exit(err ? 1 : 0);
  });
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

fuse.mount((err) => {
  if (err) {
    console.error(`bare-passthrough: mount ${mountpoint}: ${err.message}`);
    process.exit(1);
  }
  console.log(`mounted ${fuse.mnt} (${files.map((f) => f.path.slice(1)).join(' ')}) ${optionString}`);
});
