/**
 * Two header copies (docs/format.md §5.3, §9.4): damage to either one leaves the namespace
 * openable with a warning, `check` reports it and `check --repair` rewrites it; the writes are
 * ordered (copy 2, sync, copy 1, sync) so a torn write can damage only one; a sidecar written
 * before there were two copies (a fixture made by that code) still opens and gains the second.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { KiB, MiB } from '../../src/engine/index.js';
import { createNamespace } from '../../src/store/store.js';
import { StoredNamespace } from '../../src/store/stored-namespace.js';
import { checkStore } from '../../src/store/check.js';
import { Compat, Flag, HEADER_SIZE, Off, decodeHeader, encodeHeader } from '../../src/store/format.js';
import { pattern } from '../helpers/prng.mjs';
import { ROOT } from '../helpers/mount.js';
import { tmpDir } from '../helpers/tmp.js';

const GEO = { capacity: 16 * MiB, zoneSize: 1 * MiB, zoneCapacity: 768 * KiB, lbaSize: 4096, convZones: 1, maxOpen: 3, maxActive: 4 };

/** A logger whose lines the test can read. */
function capture(): { logger: pino.Logger; lines: () => Array<{ level: number; msg: string }> } {
  const out: string[] = [];
  const stream = new Writable({ write(chunk, _e, cb) { out.push(String(chunk)); cb(); } });
  return { logger: pino({ level: 'info' }, stream), lines: () => out.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l)) };
}

function setup(): { dir: string; meta: string; copy2: number } {
  const dir = tmpDir();
  createNamespace(dir, GEO, { name: 'nvme0n1' });
  const meta = path.join(dir, 'nvme0n1.zmeta');
  return { dir, meta, copy2: fs.statSync(meta).size - HEADER_SIZE };
}

function patch(file: string, at: number, bytes: Buffer): void {
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, bytes, 0, bytes.length, at);
  fs.closeSync(fd);
}

function block(file: string, at: number): Buffer {
  return fs.readFileSync(file).subarray(at, at + HEADER_SIZE);
}

describe('two header copies', () => {
  it('a new sidecar has two identical copies, the second as its last block, sequence 1', () => {
    const { meta, copy2 } = setup();
    expect(copy2).toBe(8192 + 8192); // header + 16 records, then the fault block
    expect(block(meta, 0).equals(block(meta, copy2))).toBe(true);
    const h = decodeHeader(meta, block(meta, 0), copy2 + HEADER_SIZE);
    expect(h.compat).toBe(Compat.HEADER_COPY);
    expect(h.headerSeq).toBe(1);
  });

  it('the first 4 KiB zeroed: opens with a warning, check reports copy 1, a read-write open or check --repair rewrites it', () => {
    const { dir, meta, copy2 } = setup();
    const ns0 = StoredNamespace.open(dir, 'nvme0n1');
    ns0.write(256, pattern(3, 2, 4096), 0, 8192);
    ns0.close();
    patch(meta, 0, Buffer.alloc(HEADER_SIZE));

    const log = capture();
    const ro = StoredNamespace.open(dir, 'nvme0n1', { readOnly: true, logger: log.logger });
    expect(ro.engine.wpOf(1)).toBe(258);
    ro.close();
    const warn = log.lines().filter((l) => l.level === 40);
    expect(warn.map((l) => l.msg)).toEqual([
      `${meta}: header copy 1 (offset 0) is damaged: magic: expected "ZFUSEMD", found "\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000": not a zonefuse metadata file; the other copy is used (zonefuse check --repair rewrites it)`,
    ]);
    expect(block(meta, 0).equals(Buffer.alloc(HEADER_SIZE))).toBe(true); // read-only wrote nothing

    const found = checkStore(dir);
    expect(found.errors).toBe(1);
    expect(found.findings[0]!.message).toMatch(new RegExp(`^${meta}: header copy 1 \\(offset 0\\) is damaged: magic: .*\\(repair rewrites it from the other copy\\)$`));
    const repaired = checkStore(dir, { repair: true });
    expect(repaired.findings.map((f) => f.level)).toEqual(['repaired']);
    expect(checkStore(dir).findings).toEqual([]);
    expect(block(meta, 0).equals(block(meta, copy2))).toBe(true);

    // The same damage again, now mended by an ordinary read-write open.
    patch(meta, 0, Buffer.alloc(HEADER_SIZE));
    const rw = StoredNamespace.open(dir, 'nvme0n1', { logger: log.logger });
    expect(rw.recoveredFromUncleanShutdown).toBe(false);
    expect(rw.engine.wpOf(1)).toBe(258);
    rw.close();
    expect(checkStore(dir).findings).toEqual([]);
  });

  it('the second copy damaged: opens, check reports copy 2, --repair rewrites it', () => {
    const { dir, meta, copy2 } = setup();
    patch(meta, copy2 + Off.capacity, Buffer.from([0xff]));
    const ns = StoredNamespace.open(dir, 'nvme0n1', { readOnly: true });
    expect(ns.capacity).toBe(16 * MiB);
    ns.close();
    const found = checkStore(dir);
    expect(found.findings.map((f) => f.message)).toEqual([
      expect.stringMatching(new RegExp(`^${meta}: header copy 2 \\(offset ${copy2}\\) is damaged: header checksum: mismatch`)),
    ]);
    expect(checkStore(dir, { repair: true }).errors).toBe(0);
    expect(checkStore(dir).findings).toEqual([]);
  });

  it('an interrupted header update: the intact copy with the higher sequence number wins', () => {
    const { dir, meta, copy2 } = setup();
    // Copy 2 was written (DETACHED set, sequence 2), copy 1 not yet: the update is in copy 2.
    const h = decodeHeader(meta, block(meta, 0), copy2 + HEADER_SIZE);
    h.flags |= Flag.DETACHED;
    h.headerSeq = 2;
    patch(meta, copy2, encodeHeader(h));
    expect(StoredNamespace.peekHeader(dir, 'nvme0n1').flags & Flag.DETACHED).toBe(Flag.DETACHED);
    expect(checkStore(dir).findings[0]!.message).toMatch(/header copy 1 \(offset 0\) is older than copy 2 \(sequence 1 < 2\)/);
    // And the other way round: copy 1 newer (a torn copy 2 write would fail its checksum instead).
    h.headerSeq = 3;
    h.flags &= ~Flag.DETACHED;
    patch(meta, 0, encodeHeader(h));
    expect(StoredNamespace.peekHeader(dir, 'nvme0n1').flags & Flag.DETACHED).toBe(0);
  });

  it('every torn state of a header write leaves an openable namespace: old or new, never neither', () => {
    const { dir, meta, copy2 } = setup();
    const old = block(meta, 0);
    const h = decodeHeader(meta, old, copy2 + HEADER_SIZE);
    h.mountCount = 77;
    h.headerSeq = 2;
    const next = encodeHeader(h);
    const base = fs.readFileSync(meta);
    // The write order is copy 2, then copy 1: tear either at every 512-byte sector boundary.
    for (const torn of [copy2, 0]) {
      for (let sectors = 0; sectors <= 8; sectors++) {
        const img = Buffer.from(base);
        if (torn === 0) next.copy(img, copy2); // copy 2 already written and synced
        next.copy(img, torn, 0, sectors * 512);
        fs.writeFileSync(meta, img);
        const got = StoredNamespace.peekHeader(dir, 'nvme0n1').mountCount;
        // Tearing copy 2: old until it is whole. Tearing copy 1: copy 2 already holds the new one.
        expect(got, `copy at ${torn}, ${sectors} sectors`).toBe(torn === 0 || sectors === 8 ? 77 : 0);
      }
    }
  });

  it('writes copy 2, syncs, then copy 1, syncs (strace of a detach)', () => {
    const { dir, copy2 } = setup();
    const script = `
      import { StoredNamespace } from ${JSON.stringify(path.join(ROOT, 'dist/store/stored-namespace.js'))};
      const ns = StoredNamespace.open(process.argv[1], 'nvme0n1');
      process.stdout.write('MARK\\n');
      ns.setDetached(true);
      process.stdout.write('MARK\\n');
      ns.close(false);`;
    const r = spawnSync('strace', ['-f', '-e', 'trace=pwrite64,fdatasync,write', '-e', 'signal=none', process.execPath, '--input-type=module', '-e', script, dir], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const between = r.stderr.split(/write\(1, "MARK\\n"/)[1]!.split('\n')
      .filter((l) => /pwrite64|fdatasync/.test(l))
      .map((l) => (/pwrite64\(\d+, .*, 4096, (\d+)\)/.exec(l)?.[1] ?? (l.includes('fdatasync') ? 'sync' : l)));
    expect(between).toEqual([String(copy2), 'sync', '0', 'sync']);
  });

  it('a sidecar written before there were two copies (fixture) opens, checks with a warning, and gains the second copy at the next read-write open', () => {
    const dir = tmpDir();
    const meta = path.join(dir, 'nvme0n1.zmeta');
    fs.copyFileSync(path.join(ROOT, 'test/fixtures/one-header-copy/nvme0n1.zmeta'), meta);
    const data = path.join(dir, 'nvme0n1.data');
    fs.writeFileSync(data, '');
    fs.truncateSync(data, MiB);
    patch(data, 0, pattern(8, 1, 4096));
    patch(data, 64 * 4096, pattern(7, 3, 4096));
    const oldSize = fs.statSync(meta).size;
    expect(decodeHeader(meta, block(meta, 0), oldSize).compat).toBe(0);

    const ro = StoredNamespace.open(dir, 'nvme0n1', { readOnly: true });
    expect(ro.engine.wpOf(1)).toBe(67);
    ro.close();
    expect(checkStore(dir).findings.map((f) => [f.level, f.message])).toEqual([
      ['warning', `${meta}: one header copy (made before zonefuse kept two); repair, or the next read-write open, adds the second`],
    ]);
    expect(fs.statSync(meta).size).toBe(oldSize);

    const log = capture();
    const ns = StoredNamespace.open(dir, 'nvme0n1', { logger: log.logger });
    expect(log.lines().some((l) => l.level === 30 && /this open adds the second \(compatible feature HEADER_COPY\)/.test(l.msg))).toBe(true);
    const buf = Buffer.alloc(3 * 4096);
    expect(ns.read(64 * 4096, buf, 0, buf.length)).toBe(buf.length);
    expect(buf.equals(pattern(7, 3, 4096))).toBe(true);
    ns.close();
    expect(fs.statSync(meta).size).toBe(oldSize + HEADER_SIZE);
    expect(block(meta, 0).equals(block(meta, oldSize))).toBe(true);
    expect(checkStore(dir).findings).toEqual([]);
    // The reference reader, written from docs/format.md, agrees.
    const py = spawnSync('python3', [path.join(ROOT, 'docs/read_zmeta.py'), '--json', dir], { encoding: 'utf8' });
    expect(py.status, py.stderr).toBe(0);
    const j = JSON.parse(py.stdout);
    expect(j[0].header.compat).toBe(1);
    expect(j[0].header_copies).toEqual({ copies: 2, used: 1, problems: [] });
  });
});
