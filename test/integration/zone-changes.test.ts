/**
 * Following a mounted namespace's zones through changes.bin (docs/zones-bin.md "Following
 * changes"), as the map and the web view do (ZoneTableReader): after each change, real processes
 * and ctl commands, the reader reads only the groups of records that changed and reports exactly
 * the zones whose records differ, including zones the command did not name (an implicit close
 * to make room, a power cycle's roll-back); after a remount and after the daemon died it finds
 * another epoch and reads everything. And while another process keeps writing, a reader polling
 * as fast as it can ends with exactly the file's contents.
 */
import * as fs from 'node:fs';
import { spawn } from 'node:child_process';
import { describe, it, expect } from 'vitest';
import { mounted, run } from '../helpers/mount.js';
import { ZoneTableReader } from '../../src/client/zone-table.js';
import { ZoneRecord, ZonesBinFlag, decodeZonesBin, decodeZonesBinHeader, generationEpoch } from '../../src/format/zones-bin.js';
import { CHANGE_GROUP_ZONES, changesBinSize, decodeChangesBin } from '../../src/format/changes-bin.js';
import { ZoneState } from '../../src/engine/zone.js';

const TIMEOUT = 180_000;
const ZONES = 2048;
const ZONE_LBAS = 16; // 64 KiB zones of 4 KiB LBAs

/** Everything a record says but its change sequence number. */
function content(r: ZoneRecord): string {
  return [r.start, r.wp, r.capacity, r.lbasWritten, r.resets, r.finishes, r.type, r.state, r.attrs, r.flags].join(' ');
}

describe('a follower of zones.bin through changes.bin', () => {
  it('sees exactly the zones that changed, and reads everything after a remount or a crash', async () => {
    const f = await mounted(['--size', `${ZONES * 64}K`, '--zone-size', '64K', '--conv-zones', '0', '--max-open', '2', '--max-active', '3', '--volatile-cache']);
    const dir = `${f.mnt}/nvme0n1.zones`;
    expect(fs.readdirSync(dir)).toContain('changes.bin');
    expect(fs.statSync(`${dir}/changes.bin`).size).toBe(changesBinSize(ZONES));
    expect(() => fs.writeFileSync(`${dir}/changes.bin`, 'x')).toThrow(/EACCES/);
    const summary = decodeChangesBin(fs.readFileSync(`${dir}/changes.bin`));
    expect(summary.header).toMatchObject({ groupZones: CHANGE_GROUP_ZONES, nrGroups: ZONES / CHANGE_GROUP_ZONES, nrZones: ZONES });
    expect(decodeZonesBinHeader(fs.readFileSync(`${dir}/zones.bin`)).flags & ZonesBinFlag.CHANGE_SEQ).toBe(ZonesBinFlag.CHANGE_SEQ);

    /** The whole file, read on its own: what the reader's table must equal. */
    const truth = (): ZoneRecord[] => decodeZonesBin(fs.readFileSync(`${dir}/zones.bin`)).zones;
    const reader = new ZoneTableReader(dir);
    expect(await reader.poll()).toBeDefined();
    expect(reader.lastRead).toEqual({ kind: 'full', records: ZONES });
    expect(reader.changed).toBeNull();
    expect(await reader.poll()).toBeUndefined();
    expect(reader.lastRead.kind).toBe('none');

    const matches = (want: ZoneRecord[], what: string): void => {
      const t = reader.current!;
      for (let z = 0; z < ZONES; z++) expect(content(t.record(z)), `${what}: zone ${z}`).toBe(content(want[z]!));
    };
    /** Do something; the next poll must read `kind` and report exactly the zones whose records changed. */
    const step = async (what: string, action: () => void | Promise<void>, kind: 'changes' | 'full'): Promise<number[]> => {
      const before = truth();
      await action();
      const after = truth();
      const want = after.flatMap((r, z) => (content(r) !== content(before[z]!) ? [z] : []));
      expect(await reader.poll(), what).toBeDefined();
      expect(reader.lastRead.kind, what).toBe(kind);
      expect([...reader.changed!].sort((a, b) => a - b), what).toEqual(want);
      if (kind === 'changes') {
        const groups = new Set(want.map((z) => Math.floor(z / CHANGE_GROUP_ZONES)));
        expect(reader.lastRead.records, what).toBeLessThanOrEqual(Math.max(1, groups.size) * CHANGE_GROUP_ZONES);
      }
      matches(after, what);
      return want;
    };
    const dd = (z: number, lbas = 1): void => {
      const r = run('dd', ['if=/dev/zero', `of=${f.ns()}`, 'bs=4096', `count=${lbas}`, `seek=${z * ZONE_LBAS}`, 'conv=notrunc', 'status=none']);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    };
    const ctl = (cmd: string): void => fs.writeFileSync(`${dir}/ctl`, cmd + '\n');

    expect(await step('a write', () => dd(100, 2), 'changes')).toEqual([100]);
    expect(await step('another write', () => dd(1500), 'changes')).toEqual([1500]);
    // The open limit (2) is reached: the write closes zone 100, which it does not name.
    expect(await step('a write past the open limit', () => dd(700, 3), 'changes')).toEqual([100, 700]);
    expect(reader.current!.state[100]).toBe(ZoneState.CLOSED);
    expect(await step('a reset', () => ctl('reset 1500'), 'changes')).toEqual([1500]);
    expect(await step('a finish', () => ctl('finish 5'), 'changes')).toEqual([5]);
    // With the volatile cache on, a power cycle loses the unflushed writes: zones 100 and 700 roll back.
    const lost = await step('a power cycle', () => ctl('power-cycle'), 'changes');
    expect(lost).toEqual(expect.arrayContaining([100, 700]));
    expect(reader.current!.state[700]).toBe(ZoneState.EMPTY);
    expect(await step('a write after the power cycle', () => dd(1000, 2), 'changes')).toEqual([1000]);
    ctl('flush');
    await reader.poll();

    // A remount: another epoch, every record read; zone 1000 comes back Closed (power-up).
    const epoch = generationEpoch(decodeZonesBinHeader(fs.readFileSync(`${dir}/zones.bin`)).generation);
    const remounted = await step('a remount', async () => {
      await f.daemon.stop();
      await f.daemon.start();
    }, 'full');
    expect(remounted).toEqual([1000]);
    expect(generationEpoch(decodeZonesBinHeader(fs.readFileSync(`${dir}/zones.bin`)).generation)).not.toBe(epoch);
    expect(await step('a write after the remount', () => dd(1001), 'changes')).toEqual([1001]);

    // The daemon dies with an unflushed write: at the next start that is a power loss.
    dd(1900);
    await reader.poll();
    const crashed = await step('a crash and a restart', async () => {
      await f.daemon.kill9();
      run('fusermount', ['-u', '-z', f.mnt]);
      await f.daemon.start();
    }, 'full');
    expect(crashed).toEqual(expect.arrayContaining([1001, 1900]));
    expect(reader.current!.state[1900]).toBe(ZoneState.EMPTY);
    expect(await step('a reset of all zones', () => ctl('reset all'), 'changes')).toEqual([5, 1000]);
  }, TIMEOUT);
});

/**
 * An FTL-like writer in its own process: 6 zones open at a time, each written an LBA at a time to
 * full, then reset and replaced by another zone; `ops` operations in all.
 */
const WRITER = `
const fs = require('fs');
const [ns, ctl, zones, ops] = [process.argv[1], process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const fd = fs.openSync(ns, 'r+');
const lba = Buffer.alloc(4096, 0x77);
const wp = new Map();
const pick = () => { for (;;) { const z = Math.floor(Math.random() * zones); if (!wp.has(z)) return z; } };
const open = Array.from({ length: 6 }, pick);
open.forEach((z) => wp.set(z, 0));
for (let i = 0; i < ops; i++) {
  const k = Math.floor(Math.random() * open.length);
  const z = open[k];
  const what = wp.get(z) === ${ZONE_LBAS} ? 'reset ' + z : 'write zone ' + z + ' at ' + wp.get(z);
  try {
    if (wp.get(z) === ${ZONE_LBAS}) {
      fs.writeFileSync(ctl, 'reset ' + z + '\\n');
      wp.delete(z);
      open[k] = pick();
      wp.set(open[k], 0);
    } else {
      fs.writeSync(fd, lba, 0, 4096, (z * ${ZONE_LBAS} + wp.get(z)) * 4096);
      wp.set(z, wp.get(z) + 1);
    }
  } catch (e) {
    console.error('writer, operation ' + i + ' (' + what + '): ' + e.message);
    process.exit(1);
  }
}
`;

describe('a follower while another process writes', () => {
  it('ends with exactly the zones the file shows, however the polls and the writes interleave', async () => {
    const f = await mounted(['--size', `${ZONES * 64}K`, '--zone-size', '64K', '--conv-zones', '0', '--max-open', '0', '--max-active', '0']);
    const dir = `${f.mnt}/nvme0n1.zones`;
    const reader = new ZoneTableReader(dir);
    await reader.poll();
    const writer = spawn(process.execPath, ['-e', WRITER, f.ns(), `${dir}/ctl`, String(ZONES), '3000'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    writer.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((resolve) => writer.on('exit', (code) => resolve(code)));
    let running = true;
    void exited.then(() => (running = false));
    const kinds = { none: 0, changes: 0, full: 0 };
    while (running) {
      await reader.poll();
      kinds[reader.lastRead.kind]++;
    }
    expect(await exited, stderr).toBe(0);
    await reader.poll();
    const truth = decodeZonesBin(fs.readFileSync(`${dir}/zones.bin`)).zones;
    const t = reader.current!;
    for (let z = 0; z < ZONES; z++) expect(content(t.record(z)), `zone ${z}`).toBe(content(truth[z]!));
    expect(truth.some((r) => r.resets > 0)).toBe(true);
    console.log(`follower while writing: ${kinds.changes} polls read changed groups, ${kinds.full} read everything, ${kinds.none} found nothing new`);
  }, TIMEOUT);
});
