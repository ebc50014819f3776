/**
 * Loss policies over a real mount (PRODUCT.md §13): `ctl power-cycle keep=…` and `zonefuse
 * power-cycle MNT --keep …` with the volatile cache on. Writes go through the zone files and the
 * namespace file from this process (the daemon is another one); what survives is read back the
 * same way: write pointers from `report`, data from the namespace file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { describe, it, expect } from 'vitest';
import { LossPolicy, keepsLba, parseLossPolicy, survivingWrites } from '../../src/engine/loss-policy.js';
import { cli, mounted, sh, type Fixture } from '../helpers/mount.js';

const L = 4096;
const ZONE = 1024 * 1024;
const ZL = ZONE / L;
const GEO = ['--size', '8M', '--zone-size', '1M', '--conv-zones', '1', '--volatile-cache'];

function content(tag: string, nlb: number): Buffer {
  const b = Buffer.alloc(nlb * L);
  for (let i = 0; i < nlb; i++) b.fill(`${tag}.${i};`, i * L, (i + 1) * L);
  return b;
}

/** Write pointers (in LBAs, absolute) of the zones, from the report control file. */
function wps(f: Fixture): number[] {
  const text = fs.readFileSync(path.join(f.mnt, 'nvme0n1.zones', 'report'), 'utf8');
  return text.trim().split('\n').map((line) => {
    const start = Number(/start: (0x[0-9a-f]+)/.exec(line)![1]);
    const wptr = Number(/wptr (0x[0-9a-f]+)/.exec(line)![1]);
    return (start + wptr) / (L / 512);
  });
}

function readNs(f: Fixture, lba: number, nlb: number): Buffer {
  const fd = fs.openSync(f.ns(), 'r');
  try {
    const b = Buffer.alloc(nlb * L);
    expect(fs.readSync(fd, b, 0, b.length, lba * L)).toBe(b.length);
    return b;
  } finally {
    fs.closeSync(fd);
  }
}

interface Written {
  /** Per zone (2, 3): the write pointer after the flush, then after each unflushed write. */
  ends: Map<number, number[]>;
  data: Map<number, Buffer>;
  convOld: Buffer;
  convNew: Buffer;
}

/**
 * Zones 2 and 3 from empty: one flushed write, then unflushed appends of different sizes through
 * the zone files; conventional LBAs 0..5 written and flushed, then overwritten (not flushed).
 */
function scenario(f: Fixture, round: number): Written {
  const ctl = path.join(f.mnt, 'nvme0n1.zones', 'ctl');
  fs.writeFileSync(ctl, 'reset all');
  const ns = fs.openSync(f.ns(), 'r+');
  const data = new Map<number, Buffer>();
  const ends = new Map<number, number[]>();
  const appendTo = (z: number, buf: Buffer): void => {
    const fd = fs.openSync(f.zone(z), 'a');
    try {
      expect(fs.writeSync(fd, buf)).toBe(buf.length);
    } finally {
      fs.closeSync(fd);
    }
    data.set(z, Buffer.concat([data.get(z) ?? Buffer.alloc(0), buf]));
  };
  try {
    const convOld = content(`old${round}`, 6);
    fs.writeSync(ns, convOld, 0, convOld.length, 0);
    appendTo(2, content(`a${round}`, 2));
    appendTo(3, content(`b${round}`, 1));
    fs.fsyncSync(ns);
    for (const z of [2, 3]) ends.set(z, [wps(f)[z]!]);
    const sizes: Record<number, number[]> = { 2: [1, 3, 2], 3: [2, 1, 1, 4] };
    for (let i = 0; i < 4; i++) {
      for (const z of [2, 3]) {
        const n = sizes[z]![i];
        if (n === undefined) continue;
        appendTo(z, content(`z${z}w${i}r${round}`, n));
        ends.get(z)!.push(ends.get(z)!.at(-1)! + n);
      }
    }
    const convNew = content(`new${round}`, 6);
    fs.writeSync(ns, convNew, 0, convNew.length, 0);
    return { ends, data, convOld, convNew };
  } finally {
    fs.closeSync(ns);
  }
}

function fingerprint(f: Fixture): string {
  const h = createHash('sha256');
  h.update(JSON.stringify(wps(f)));
  h.update(readNs(f, 0, 4 * ZL));
  return h.digest('hex');
}

/** What `policy` must have left: each zone at its prefix, data below, zeros above; conventional LBAs per the seed. */
function expectKept(f: Fixture, w: Written, policy: LossPolicy): void {
  const now = wps(f);
  for (const [z, ends] of w.ends) {
    const k = survivingWrites(policy, z, ends.length - 1);
    expect(now[z], `zone ${z} under ${JSON.stringify(policy)}`).toBe(ends[k]);
    const n = ends[k]! - z * ZL;
    const got = readNs(f, z * ZL, 16);
    expect(got.subarray(0, n * L).equals(w.data.get(z)!.subarray(0, n * L))).toBe(true);
    expect(got.subarray(n * L).every((b) => b === 0)).toBe(true);
  }
  const conv = readNs(f, 0, 6);
  for (let l = 0; l < 6; l++) {
    const want = keepsLba(policy, l) ? w.convNew : w.convOld;
    expect(conv.subarray(l * L, (l + 1) * L).equals(want.subarray(l * L, (l + 1) * L)), `LBA ${l}`).toBe(true);
  }
}

describe('loss policies over a mount', () => {
  it('ctl power-cycle keep=none|all and zonefuse power-cycle --keep prefix:SEED keep what the policy says', async () => {
    const f = await mounted(GEO);
    const ctl = path.join(f.mnt, 'nvme0n1.zones', 'ctl');
    let round = 0;

    let w = scenario(f, ++round);
    fs.writeFileSync(ctl, 'power-cycle keep=all');
    expectKept(f, w, parseLossPolicy('all'));

    w = scenario(f, ++round);
    fs.writeFileSync(ctl, 'power-cycle keep=none');
    expectKept(f, w, parseLossPolicy('none'));

    w = scenario(f, ++round);
    fs.writeFileSync(ctl, 'power-cycle'); // the default is none
    expectKept(f, w, parseLossPolicy('none'));

    const prefixes = new Set<string>();
    for (const seed of [3, 8, 21, 1000, 4294967295]) {
      w = scenario(f, ++round);
      const r = cli(['power-cycle', f.mnt, '--keep', `prefix:${seed}`]);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toBe(`nvme0n1: power lost and restored (kept: prefix:${seed})\n`);
      const policy = parseLossPolicy(`prefix:${seed}`);
      expectKept(f, w, policy);
      prefixes.add(JSON.stringify(wps(f).slice(2, 4).map((wp, i) => wp - (i + 2) * ZL)));
    }
    expect(prefixes.size).toBeGreaterThan(1); // different seeds, different prefixes
  }, 120_000);

  it('the same seed gives the same state (write pointers and data)', async () => {
    const f = await mounted(GEO);
    const ctl = path.join(f.mnt, 'nvme0n1.zones', 'ctl');
    const prints: string[] = [];
    for (let i = 0; i < 2; i++) {
      scenario(f, 7); // the same data both times
      fs.writeFileSync(ctl, 'power-cycle keep=prefix:424242');
      prints.push(fingerprint(f));
    }
    expect(prints[1]).toBe(prints[0]);
  }, 60_000);

  it('refuses a bad policy (EINVAL, errors line, CLI message) and changes nothing', async () => {
    const f = await mounted(GEO);
    const w = scenario(f, 1);
    const before = fingerprint(f);
    const r = sh(`echo 'power-cycle keep=half' > ${f.mnt}/nvme0n1.zones/ctl`);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/Invalid argument/);
    expect(fs.readFileSync(path.join(f.mnt, 'nvme0n1.zones', 'errors'), 'utf8')).toMatch(/power-cycle keep=half.*none, all or prefix:SEED.*errno=EINVAL/);
    const c = cli(['power-cycle', f.mnt, '--keep', 'prefix:x']);
    expect(c.status).toBe(1);
    expect(c.stderr).toMatch(/^zonefuse: --keep: the loss policy must be none, all or prefix:SEED/);
    const s = cli(['power-cycle', f.mnt, '--shutdown', '--keep', 'all']);
    expect(s.status).toBe(1);
    expect(s.stderr).toMatch(/--keep is for a power loss/);
    expect(fingerprint(f)).toBe(before);
    // Still a working device: the unflushed writes are still there for a later policy.
    fs.writeFileSync(path.join(f.mnt, 'nvme0n1.zones', 'ctl'), 'power-cycle keep=all');
    expectKept(f, w, parseLossPolicy('all'));
  }, 60_000);
});
