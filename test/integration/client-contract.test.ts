/**
 * One test suite, two backends: the library's ZonedDevice over a real mount (through files, in
 * this process, which is not the daemon) and in-process (engine + store, no FUSE).
 */
import * as path from 'node:path';
import { describe, it, expect } from 'vitest';
import { LocalDevice, MountedDevice, ZoneError, ZonedDevice, openDevice } from '../../src/index.js';
import { cli, mounted } from '../helpers/mount.js';
import { tmpDir } from '../helpers/tmp.js';

const GEO = ['--size', '32M', '--zone-size', '2M', '--zone-capacity', '1536K', '--conv-zones', '1', '--max-open', '2', '--max-active', '3', '--zasl', '64K'];
const L = 4096;

type Make = () => Promise<ZonedDevice>;

const backends: Array<[string, Make]> = [
  ['in-process', async () => {
    const dir = tmpDir();
    const store = path.join(dir, 'store');
    expect(cli(['create', store, ...GEO]).status).toBe(0);
    return LocalDevice.open(store);
  }],
  ['mounted', async () => {
    const f = await mounted(GEO);
    return MountedDevice.open(f.ns());
  }],
];

function block(byte: number, n = 1): Buffer {
  return Buffer.alloc(n * L, byte);
}

function statusOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof ZoneError) return e.status.name;
    throw e;
  }
  return 'no error';
}

describe.each(backends)('ZonedDevice (%s)', (_name, make) => {
  it('describes the namespace', async () => {
    const dev = await make();
    try {
      expect(dev.info()).toEqual({
        name: 'nvme0n1', zoned: true, model: 'host-managed', lbaSize: 4096, capacityLbas: 8192, zoneSizeLbas: 512,
        zoneCapacityLbas: 384, zoneCount: 16, conventionalZones: 1, maxOpen: 2, maxActive: 3, appendLimitLbas: 16,
        zrwaSizeLbas: 0, zrwaFlushGranularityLbas: 0, zrwaResources: 0, resetRecommendedLimit: 0, finishRecommendedLimit: 0,
      });
      const zones = dev.report();
      expect(zones).toHaveLength(16);
      expect(zones[0]).toMatchObject({ zone: 0, state: 'NOT_WP', type: 'CONVENTIONAL', wp: null });
      expect(zones[1]).toMatchObject({ zone: 1, start: 512, len: 512, cap: 384, wp: 512, state: 'EMPTY', type: 'SEQWRITE_REQ' });
    } finally {
      dev.dispose();
    }
  });

  it('writes at the write pointer, appends, reads zeros above it, and types every refusal', async () => {
    const dev = await make();
    try {
      dev.write(512, block(1, 2));
      expect(statusOf(() => dev.write(512 + 5, block(2)))).toBe('Zone Invalid Write');
      expect(dev.append(1, block(3))).toBe(514);
      expect(dev.append(1, block(4, 2))).toBe(515);
      expect(dev.append(2, block(5))).toBe(1024);
      const r = dev.read(512, 6 * L);
      expect(r.subarray(0, 2 * L).every((b) => b === 1)).toBe(true);
      expect(r.subarray(2 * L, 3 * L).every((b) => b === 3)).toBe(true);
      expect(r.subarray(5 * L).every((b) => b === 0)).toBe(true);
      expect(dev.report(512, 1)[0]).toMatchObject({ wp: 517, state: 'IMP_OPENED' });
      // The append size limit (64 KiB = 16 LBAs).
      expect(statusOf(() => dev.append(3, block(6, 17)))).toBe('Invalid Field in Command');
      // Open limit 2: a third implicitly opened zone closes the oldest one.
      dev.write(3 * 512, block(7));
      expect(dev.report(512, 1)[0]!.state).toBe('CLOSED');
      // Active limit 3 (zones 1, 2, 3): a fourth is refused.
      expect(statusOf(() => dev.write(4 * 512, block(8)))).toBe('Too Many Active Zones');
      dev.finish(1);
      expect(statusOf(() => dev.append(1, block(9)))).toBe('Zone Is Full');
      expect(statusOf(() => dev.close(9))).toBe('Invalid Zone State Transition');
      dev.reset('all');
      expect(dev.report(0, 16, 'empty')).toHaveLength(15);
      dev.open(5);
      expect(dev.report(0, 16, 'explicit-open').map((z) => z.zone)).toEqual([5]);
      dev.close(5);
      expect(dev.report(5 * 512, 1)[0]!.state).toBe('CLOSED');
      // Conventional space: random writes.
      dev.write(100, block(10));
      dev.write(3, block(11));
      expect(dev.read(100, L).every((b) => b === 10)).toBe(true);
      dev.flush();
    } finally {
      dev.dispose();
    }
  });

  it('power cycles with the volatile cache, and injects faults', async () => {
    const dev = await make();
    try {
      dev.setVolatileCache(true);
      dev.append(2, block(1, 2));
      dev.flush();
      dev.append(2, block(2, 2));
      dev.powerCycle();
      expect(dev.report(1024, 1)[0]).toMatchObject({ wp: 1026, state: 'CLOSED' });
      expect(dev.read(1026, 2 * L).every((b) => b === 0)).toBe(true);
      dev.setVolatileCache(false);

      dev.addBadRange({ kind: 'write', start: 1536 + 1, count: 1, partial: true });
      expect(statusOf(() => dev.write(1536, block(3, 3)))).toBe('Write Fault');
      expect(dev.report(1536, 1)[0]!.wp).toBe(1537); // torn: the LBA before the bad one landed
      dev.addBadRange({ kind: 'read', start: 1536, count: 1, once: true });
      expect(statusOf(() => dev.read(1536, L))).toBe('Unrecovered Read Error');
      expect(dev.read(1536, L).every((b) => b === 3)).toBe(true); // healed
      dev.injectZoneFault('readonly', 7);
      dev.recommend('reset', 8);
      dev.setRandomFaults(7, 1000);
      expect(dev.listFaults()).toEqual([`fault write ${1537} 1 partial`, 'fault random 7 1000 0', 'readonly 7', 'recommend reset 8']);
      expect(dev.report(0, 16, 'read-only').map((z) => z.zone)).toEqual([7]);
      expect(dev.report(0, 16, 'attributes').map((z) => z.zone)).toEqual([8]);
      dev.clearFaults();
      expect(dev.listFaults()).toEqual([]);
      dev.powerCycle('shutdown');
      expect(dev.report(1536, 1)[0]!.state).toBe('CLOSED');
    } finally {
      dev.dispose();
    }
  });
});

const ZRWA_GEO = ['--size', '32M', '--zone-size', '2M', '--conv-zones', '1', '--max-open', '3', '--max-active', '3',
  '--zrwas', '32K', '--zrwafg', '8K', '--numzrwa', '1', '--rrl', '100', '--frl', '50'];

const zrwaBackends: Array<[string, Make]> = [
  ['in-process', async () => {
    const store = path.join(tmpDir(), 'store');
    expect(cli(['create', store, ...ZRWA_GEO]).status).toBe(0);
    return LocalDevice.open(store);
  }],
  ['mounted', async () => MountedDevice.open((await mounted(ZRWA_GEO)).ns())],
];

describe.each(zrwaBackends)('ZonedDevice ZRWA and device events (%s)', (_name, make) => {
  it('opens with a ZRWA, overwrites in the window, flushes, refuses append; waits for and polls events', async () => {
    const dev = await make();
    try {
      expect(dev.info()).toMatchObject({ zrwaSizeLbas: 8, zrwaFlushGranularityLbas: 2, zrwaResources: 1, resetRecommendedLimit: 100, finishRecommendedLimit: 50 });
      const s = 512;
      dev.open(1, { zrwa: true });
      expect(statusOf(() => dev.open(2, { zrwa: true }))).toBe('ZRWA Resources Unavailable');
      dev.write(s + 3, block(0xa1, 2));
      dev.write(s + 3, block(0xb2));
      expect([...dev.read(s + 3, 2 * L)].filter((_, i) => i % L === 0)).toEqual([0xb2, 0xa1]);
      expect(dev.report(s, 1)[0]).toMatchObject({ state: 'EXP_OPENED', zrwa: true, wp: s, zrwaEnd: s + 5, attrs: 8 });
      expect(statusOf(() => dev.append(1, block(1)))).toBe('Invalid Zone Operation Request');
      expect(statusOf(() => dev.zrwaFlush(1, s + 2))).toBe('Invalid Field in Command');
      dev.zrwaFlush(1, 3);
      expect(dev.report(s, 1)[0]).toMatchObject({ wp: s + 4 });

      const start = dev.pollEvents();
      expect(start.events).toEqual([]);
      const waiting = dev.waitForEvent((e) => e.zone === 1 && e.to.attrs.includes('FZR'), { timeoutMs: 20_000 });
      dev.advanceClock(50);
      const e = await waiting;
      expect(e).toMatchObject({ zone: 1, from: { state: 'EXP_OPENED', attrs: ['ZRWAV'] }, to: { state: 'EXP_OPENED', attrs: ['FZR', 'ZRWAV'] } });
      expect(e.reason).toBe('finish recommended limit: active for 50 s');
      dev.excursion(1);
      const next = dev.pollEvents(start.cursor);
      expect(next.events.map((x) => [x.zone, x.to.state, x.to.attrs])).toEqual([[1, 'EXP_OPENED', ['FZR', 'ZRWAV']], [1, 'FULL', ['ZFC']]]);
      expect(dev.pollEvents(next.cursor).events).toEqual([]);
      dev.open(2, { zrwa: true }); // the excursion released the ZRWA
      await expect(dev.waitForEvent(() => true, { timeoutMs: 200 })).rejects.toThrow(/no matching device event/);
    } finally {
      dev.dispose();
    }
  });
});

describe('openDevice', () => {
  it('refuses a store directory without inProcess, and opens it with it', () => {
    const dir = tmpDir();
    const store = path.join(dir, 'store');
    expect(cli(['create', store, ...GEO]).status).toBe(0);
    expect(() => openDevice(store)).toThrow(/is a store directory: mount it, or pass \{ inProcess: true \}/);
    const dev = openDevice(store, { inProcess: true });
    expect(dev.info().zoneCount).toBe(16);
    dev.dispose();
  });
});
