#!/usr/bin/env node
/**
 * bench-store: write throughput through the persistent store versus plain pwrite.
 *
 * What it compares, for 4 KiB and 128 KiB blocks:
 *   store  StoredNamespace.write() of sequential blocks into sequential zones of a temporary store
 *          (per write: engine check, data pwrite into <name>.data, engine commit, one 64-byte zone
 *          record pwrite into <name>.zmeta; zones fill up and become Full one after another)
 *   plain  fs.writeSync (pwrite) of the same blocks at the same offsets into a plain sparse file of
 *          the same size on the same filesystem
 * Nothing is fsynced inside the timed region (an acknowledged store write is in the page cache,
 * which is what survives kill -9); pass --fsync to also time a final flush (store: fdatasync of
 * both files; plain: fdatasync) and get "durable" figures.
 *
 * Method: both targets start each measurement with every block deallocated (store: reset all zones,
 * which punches the data file; plain: truncate to 0 and back). The two targets alternate within
 * each round (which one goes first alternates too), one untimed warm-up round, then ROUNDS timed
 * rounds; the figure for each target is the median over rounds, the ratio is store / plain of the
 * medians (the median of the per-round ratios is printed too).
 *
 * Output: one JSON object on stdout, a human table on stderr. Temporary files live under
 * os.tmpdir() and are removed at the end (also on error).
 * Usage:  npm run build && node scripts/bench-store.mjs [--rounds N] [--fsync]    (about 20 s)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomFillSync } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const dist = new URL('../dist/', import.meta.url);
if (!fs.existsSync(fileURLToPath(new URL('store/store.js', dist)))) {
  process.stderr.write('bench-store: dist/ is missing: run `npm run build` first\n');
  process.exit(1);
}
const { createNamespace, Store } = await import(new URL('store/store.js', dist).href);

const args = process.argv.slice(2);
const argValue = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const ROUNDS = Math.max(5, argValue('--rounds', 11));
const FSYNC = args.includes('--fsync');

const KiB = 1024;
const MiB = 1024 * KiB;
const LBA = 4096;
const ZONE = 16 * MiB;
const CAPACITY = 128 * MiB; // 8 zones
/** Bytes written per measurement, per block size. */
const CASES = [
  { block: 4 * KiB, bytes: 64 * MiB },
  { block: 128 * KiB, bytes: 128 * MiB },
];

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'zonefuse-bench-store-'));
let store;
let plainFd = -1;
try {
  const storeDir = path.join(tmp, 'store');
  createNamespace(storeDir, {
    lbaSize: LBA, capacity: CAPACITY, zoneSize: ZONE, convZones: 0, maxOpen: 14, maxActive: 14,
  }, { name: 'bench' });
  store = Store.open(storeDir, { command: 'bench-store' });
  const ns = store.get('bench');
  const plainPath = path.join(tmp, 'plain.img');
  plainFd = fs.openSync(plainPath, 'w+');
  fs.ftruncateSync(plainFd, CAPACITY);

  const buf = Buffer.alloc(128 * KiB);
  randomFillSync(buf);

  const targets = {
    store: {
      reset() {
        const r = ns.manage('reset', 'all');
        if (r) throw new Error(`reset all: ${r.detail}`);
      },
      run(block, bytes) {
        let lba = 0;
        const step = block / LBA;
        for (let off = 0; off < bytes; off += block) {
          const r = ns.write(lba, buf, 0, block);
          if (r) throw new Error(`store write at LBA ${lba}: ${r.detail}`);
          lba += step;
        }
        if (FSYNC) ns.flush();
      },
    },
    plain: {
      reset() {
        fs.ftruncateSync(plainFd, 0);
        fs.ftruncateSync(plainFd, CAPACITY);
      },
      run(block, bytes) {
        for (let off = 0; off < bytes; off += block) {
          let done = 0;
          while (done < block) done += fs.writeSync(plainFd, buf, done, block - done, off + done);
        }
        if (FSYNC) fs.fdatasyncSync(plainFd);
      },
    },
  };

  const started = performance.now();
  const samples = {}; // `${target}/${block}` → MB/s per round
  for (let round = -1; round < ROUNDS; round++) {
    for (const { block, bytes } of CASES) {
      const order = (round & 1) === 0 ? ['store', 'plain'] : ['plain', 'store'];
      for (const name of order) {
        const t = targets[name];
        t.reset();
        const t0 = performance.now();
        t.run(block, bytes);
        const secs = (performance.now() - t0) / 1000;
        if (round >= 0) (samples[`${name}/${block}`] ??= []).push(bytes / 1e6 / secs);
      }
    }
  }
  const elapsed = (performance.now() - started) / 1000;

  const results = CASES.map(({ block, bytes }) => {
    const s = samples[`store/${block}`];
    const p = samples[`plain/${block}`];
    const storeMBs = median(s);
    const plainMBs = median(p);
    return {
      blockBytes: block,
      bytesPerRound: bytes,
      writesPerRound: bytes / block,
      storeMBps: +storeMBs.toFixed(1),
      plainMBps: +plainMBs.toFixed(1),
      ratio: +(storeMBs / plainMBs).toFixed(3),
      medianRoundRatio: +median(s.map((x, i) => x / p[i])).toFixed(3),
      storeWritesPerSec: Math.round((storeMBs * 1e6) / block),
      storeRoundsMBps: s.map((x) => +x.toFixed(1)),
      plainRoundsMBps: p.map((x) => +x.toFixed(1)),
    };
  });

  const out = {
    bench: 'store',
    node: process.version,
    tmpdir: os.tmpdir(),
    rounds: ROUNDS,
    fsync: FSYNC,
    geometry: { lbaSize: LBA, zoneSize: ZONE, capacity: CAPACITY },
    results,
    elapsedSec: +elapsed.toFixed(1),
  };

  process.stderr.write(`zonefuse store write benchmark (node ${process.version}, ${ROUNDS} rounds + warm-up, ` +
    `${FSYNC ? 'with' : 'no'} fsync, ${os.tmpdir()}, ${elapsed.toFixed(1)} s)\n`);
  process.stderr.write('  block     store MB/s   plain MB/s   store/plain   store writes/s\n');
  for (const r of results) {
    process.stderr.write(`  ${(r.blockBytes / KiB + ' KiB').padEnd(8)}  ${r.storeMBps.toFixed(1).padStart(10)}   ` +
      `${r.plainMBps.toFixed(1).padStart(10)}   ${r.ratio.toFixed(3).padStart(11)}   ${r.storeWritesPerSec.toLocaleString('en-US').padStart(14)}\n`);
  }
  process.stdout.write(JSON.stringify(out) + '\n');
} finally {
  if (plainFd >= 0) fs.closeSync(plainFd);
  try {
    store?.close();
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
