/**
 * Buffered (page-cache) writers over a real mount, on the default geometry and on one with
 * 512-byte LBAs and zone capacity < zone size (issue 11):
 * - a refusal names what the device would say for the same request (a zone's state before the
 *   position, then boundary and limits), exactly as for an O_DIRECT handle;
 * - a partial LBA staged by one handle is that handle's host-side cache: it never changes what
 *   another handle may write or sees, and when the device moved on it fails at fsync/close.
 */
import * as fs from 'node:fs';
import { describe, it, expect } from 'vitest';
import { Fixture, mounted } from '../helpers/mount.js';
import { ERRNO, fileOps } from '../helpers/file-ops.js';

const GEOMETRIES = [
  { label: 'default geometry', args: [] as string[] },
  {
    label: '512-byte LBAs, zone capacity < zone size',
    args: ['--size', '64M', '--zone-size', '4M', '--zone-capacity', '3M', '--lba-size', '512', '--conv-zones', '1', '--max-open', '2', '--max-active', '3'],
  },
];

interface Geo {
  lba: number;
  zoneSize: number;
  cap: number;
  conv: number;
  maxOpen: number;
  maxActive: number;
}

function geometry(f: Fixture): Geo {
  const info = Object.fromEntries(
    fs.readFileSync(`${f.mnt}/nvme0n1.zones/info`, 'utf8').trimEnd().split('\n').map((l) => l.split(': ') as [string, string]),
  );
  const n = (k: string): number => Number(info[k]);
  return { lba: n('lba_size'), zoneSize: n('zone_size'), cap: n('zone_capacity'), conv: n('conventional_zones'), maxOpen: n('max_open_zones'), maxActive: n('max_active_zones') };
}

const ctl = (f: Fixture, line: string): void => fs.writeFileSync(`${f.mnt}/nvme0n1.zones/ctl`, line);
const report = (f: Fixture): string => fs.readFileSync(`${f.mnt}/nvme0n1.zones/report`, 'utf8');
const errors = (f: Fixture): string[] => fs.readFileSync(`${f.mnt}/nvme0n1.zones/errors`, 'utf8').trimEnd().split('\n').filter(Boolean);

/** One write through a fresh handle: its errno (0 = accepted) and the `errors` lines it added. */
function writeOnce(f: Fixture, path: string, off: number, len: number, direct: boolean): { errno: number; added: string[] } {
  const before = errors(f).length;
  const r = fileOps([
    { op: 'open', fd: 1, path, flags: direct ? ['direct'] : [] },
    { op: 'write', fd: 1, off, len, byte: 0x5a },
    { op: 'close', fd: 1 },
  ]);
  return { errno: r[1]!.errno || r[2]!.errno, added: errors(f).slice(before) };
}

const hex = (byte: number, n: number): string => byte.toString(16).padStart(2, '0').repeat(n);

describe.each(GEOMETRIES)('buffered writes through the namespace file, $label', ({ args }) => {
  it('a Read Only, Offline or Full zone refuses any write for its state, at any offset, buffered as with O_DIRECT', async () => {
    const f = await mounted(args);
    const g = geometry(f);
    const cases = [
      { verb: 'readonly', code: '0x1ba', name: 'Zone Is Read Only' },
      { verb: 'offline', code: '0x1bb', name: 'Zone Is Offline' },
      { verb: 'finish', code: '0x1b9', name: 'Zone Is Full' },
    ];
    for (const [i, c] of cases.entries()) {
      const z = g.conv + 1 + i;
      const zs = z * g.zoneSize;
      // Some data first, so the write pointer is not the zone start.
      expect(writeOnce(f, f.ns(), zs, 2 * g.lba, true).errno).toBe(0);
      ctl(f, `${c.verb} ${z}`);
      const before = report(f);
      const probes: [number, number][] = [
        [zs, g.lba], [zs + 2 * g.lba, g.lba], [zs + 2 * g.lba, 100], [zs + 100, 100], [zs + 5 * g.lba + 7, 3 * g.lba], [zs + g.cap - g.lba, g.lba],
      ];
      if (g.cap < g.zoneSize) probes.push([zs + g.cap, g.lba]);
      for (const [off, len] of probes) {
        for (const direct of [false, true]) {
          if (direct && (off % g.lba !== 0 || len % g.lba !== 0)) continue;
          const r = writeOnce(f, f.ns(), off, len, direct);
          const what = `${c.verb} zone ${z}, ${direct ? 'O_DIRECT' : 'buffered'} write of ${len} at byte ${off}`;
          expect(r.errno, what).toBe(ERRNO.EIO);
          expect(r.added, what).toHaveLength(1);
          expect(r.added[0], what).toContain(`status=${c.code} "${c.name}" errno=EIO`);
        }
      }
      expect(report(f)).toBe(before);
    }
  });

  it('resource limits are refused as the device refuses them, also for a write that only stages a partial LBA', async () => {
    const f = await mounted(args);
    const g = geometry(f);
    const first = g.conv;
    // Explicitly open as many zones as the open limit allows: no implicitly opened zone to close.
    for (let i = 0; i < g.maxOpen; i++) ctl(f, `open ${first + i}`);
    const z = first + g.maxOpen;
    const zs = z * g.zoneSize;
    const tooMany = g.maxActive === g.maxOpen
      ? { errno: ERRNO.EOVERFLOW, status: 'status=0x1bd "Too Many Active Zones" errno=EOVERFLOW' }
      : { errno: ERRNO.ETOOMANYREFS, status: 'status=0x1be "Too Many Open Zones" errno=ETOOMANYREFS' };
    const before = report(f);
    for (const [len, direct] of [[100, false], [g.lba, false], [g.lba + 100, false], [g.lba, true]] as const) {
      const r = writeOnce(f, f.ns(), zs, len, direct);
      expect(r.errno, `${direct ? 'O_DIRECT' : 'buffered'} ${len} bytes at the write pointer`).toBe(tooMany.errno);
      expect(r.added[0]).toContain(tooMany.status);
    }
    // Misplaced as well: the position is checked before resources, buffered as with O_DIRECT
    // (the device's order: state, write pointer, boundary, then the implicit open).
    for (const direct of [false, true]) {
      const r = writeOnce(f, f.ns(), zs + g.lba, g.lba, direct);
      expect(r.errno).toBe(ERRNO.EIO);
      expect(r.added[0]).toContain('status=0x1bc "Zone Invalid Write" errno=EIO');
    }
    expect(report(f)).toBe(before);
    if (g.maxActive > g.maxOpen) {
      // With an active resource to spare, a Closed zone still needs an open one.
      ctl(f, `close ${first}`);
      ctl(f, `open ${z}`);
      expect(writeOnce(f, f.ns(), first * g.zoneSize, 100, false).errno).toBe(ERRNO.ETOOMANYREFS);
    }
  });
});

describe.each(GEOMETRIES)('a partial LBA staged by one handle, $label', ({ args }) => {
  const writers = [
    { label: 'a buffered namespace-file handle', ns: true, direct: false },
    { label: 'an O_DIRECT namespace-file handle', ns: true, direct: true },
    { label: 'a buffered zone-file handle', ns: false, direct: false },
    { label: 'an O_DIRECT zone-file handle', ns: false, direct: true },
  ];

  it('never blocks a write at the write pointer from another handle; the stale stage fails at fsync, the device data is kept', async () => {
    const f = await mounted(args);
    const g = geometry(f);
    for (const [i, w] of writers.entries()) {
      const z = g.conv + i;
      const zs = z * g.zoneSize;
      const before = errors(f).length;
      const r = fileOps([
        { op: 'open', fd: 1, path: f.zone(z), flags: ['rdwr'] },
        { op: 'write', fd: 1, off: 0, len: 100, byte: 0xaa },
        // 2: the stager reads its own bytes (page cache); sizes and other handles show the device.
        { op: 'fstat', fd: 1 },
        { op: 'read', fd: 1, off: 0, len: 100 },
        { op: 'open', fd: 2, path: f.zone(z), flags: ['rdonly'] },
        { op: 'fstat', fd: 2 },
        { op: 'open', fd: 3, path: f.ns(), flags: ['rdonly'] },
        { op: 'read', fd: 3, off: zs, len: 100 },
        // 8: the other writer, at the device's write pointer.
        { op: 'open', fd: 4, path: w.ns ? f.ns() : f.zone(z), flags: w.direct ? ['direct'] : [] },
        { op: 'write', fd: 4, off: w.ns ? zs : 0, len: g.lba, byte: 0xbb },
        { op: 'close', fd: 4 },
        // 11: the stage is stale: not shown even to its own handle, refused at fsync.
        { op: 'read', fd: 1, off: 0, len: 100 },
        { op: 'read', fd: 3, off: zs, len: g.lba },
        { op: 'fsync', fd: 1 },
        { op: 'close', fd: 1 },
        { op: 'fstat', fd: 2 },
      ]);
      const what = `second writer: ${w.label}`;
      expect(r[1], what).toEqual({ errno: 0, value: 100 });
      expect(r[2]!.value, what).toBe(0);
      expect(r[3]!.value, what).toBe(hex(0xaa, 100));
      expect(r[5]!.value, what).toBe(0);
      expect(r[7]!.value, what).toBe(hex(0, 100));
      expect(r[9], what).toEqual({ errno: 0, value: g.lba });
      expect(r[10]!.errno, what).toBe(0);
      expect(r[11]!.value, what).toBe(hex(0xbb, 100));
      expect(r[12]!.value, what).toBe(hex(0xbb, g.lba));
      expect([ERRNO.EIO, ERRNO.EINVAL], what).toContain(r[13]!.errno);
      expect(r[14]!.errno, what).toBe(0);
      expect(r[15]!.value, what).toBe(g.lba);
      const added = errors(f).slice(before).join('\n');
      expect(added, what).toMatch(/100 bytes this handle staged at byte \d+ are dropped \(the zone was written through another handle meanwhile\)/);
      // The device's data and write pointer are what the other handle wrote.
      const back = fileOps([{ op: 'open', fd: 1, path: f.ns(), flags: ['rdonly'] }, { op: 'read', fd: 1, off: zs, len: 2 * g.lba }]);
      expect(back[1]!.value, what).toBe(hex(0xbb, g.lba) + hex(0, g.lba));
      expect(fs.statSync(f.zone(z)).size, what).toBe(g.lba);
      // Free the zone's active resource for the next variant (the small geometry has 3).
      ctl(f, `reset ${z}`);
    }
  });

  it('a stale stage makes close fail (EIO) when nothing called fsync', async () => {
    const f = await mounted(args);
    const g = geometry(f);
    const z = g.conv;
    const r = fileOps([
      { op: 'open', fd: 1, path: f.ns(), flags: [] },
      { op: 'write', fd: 1, off: z * g.zoneSize, len: 300, byte: 0xaa },
      { op: 'open', fd: 2, path: f.ns(), flags: ['direct'] },
      { op: 'write', fd: 2, off: z * g.zoneSize, len: 2 * g.lba, byte: 0xbb },
      { op: 'close', fd: 2 },
      { op: 'close', fd: 1 },
    ]);
    expect(r.map((x) => x.errno)).toEqual([0, 0, 0, 0, 0, ERRNO.EIO]);
    expect(fs.statSync(f.zone(z)).size).toBe(2 * g.lba);
  });

  it('two handles stage at the same write pointer: each reads its own bytes, the first to close wins, the other fails', async () => {
    const f = await mounted(args);
    const g = geometry(f);
    const z = g.conv + 1;
    const zs = z * g.zoneSize;
    const r = fileOps([
      { op: 'open', fd: 1, path: f.zone(z), flags: ['rdwr'] },
      { op: 'write', fd: 1, off: 0, len: 100, byte: 0xaa },
      { op: 'open', fd: 2, path: f.ns(), flags: ['rdwr'] },
      { op: 'write', fd: 2, off: zs, len: 200, byte: 0xbb },
      { op: 'read', fd: 1, off: 0, len: 100 },
      { op: 'read', fd: 2, off: zs, len: 200 },
      // The namespace handle continues its own stage (not the zone file's).
      { op: 'write', fd: 2, off: zs + 200, len: 50, byte: 0xcc },
      { op: 'close', fd: 2 },
      { op: 'close', fd: 1 },
    ]);
    expect(r.map((x) => x.errno)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, ERRNO.EIO]);
    expect(r[4]!.value).toBe(hex(0xaa, 100));
    expect(r[5]!.value).toBe(hex(0xbb, 200));
    const back = fileOps([{ op: 'open', fd: 1, path: f.zone(z), flags: ['rdonly'] }, { op: 'read', fd: 1, off: 0, len: g.lba }]);
    expect(back[1]!.value).toBe(hex(0xbb, 200) + hex(0xcc, 50) + hex(0, g.lba - 250));
  });

  it('a stage that nobody disturbs is committed, zero-padded, at close; a reset drops it', async () => {
    const f = await mounted(args);
    const g = geometry(f);
    const z = g.conv + 2;
    const r = fileOps([
      { op: 'open', fd: 1, path: f.zone(z), flags: ['append', 'rdwr'] },
      { op: 'write', fd: 1, len: 10, byte: 0x11 },
      { op: 'write', fd: 1, len: 10, byte: 0x22 },
      { op: 'read', fd: 1, off: 0, len: 20 },
      { op: 'close', fd: 1 },
      { op: 'open', fd: 2, path: f.zone(z + 1), flags: [] },
      { op: 'write', fd: 2, off: 0, len: 10, byte: 0x33 },
    ]);
    expect(r.map((x) => x.errno)).toEqual([0, 0, 0, 0, 0, 0, 0]);
    expect(r[3]!.value).toBe(hex(0x11, 10) + hex(0x22, 10));
    expect(fs.statSync(f.zone(z)).size).toBe(g.lba);
    const back = fileOps([{ op: 'open', fd: 1, path: f.zone(z), flags: ['rdonly'] }, { op: 'read', fd: 1, off: 0, len: g.lba }]);
    expect(back[1]!.value).toBe(hex(0x11, 10) + hex(0x22, 10) + hex(0, g.lba - 20));
    // A reset discards what was staged, as Linux drops a reset zone's page cache: close succeeds.
    const s = fileOps([
      { op: 'open', fd: 1, path: f.zone(z + 2), flags: [] },
      { op: 'write', fd: 1, off: 0, len: 10, byte: 0x44 },
      { op: 'open', fd: 2, path: `${f.mnt}/nvme0n1.zones/ctl`, flags: [] },
      { op: 'write', fd: 2, text: `reset ${z + 2}` },
      { op: 'close', fd: 2 },
      { op: 'close', fd: 1 },
    ]);
    expect(s.map((x) => x.errno)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(fs.statSync(f.zone(z + 2)).size).toBe(0);
  });
});
