/**
 * The C example examples/zoned-log/zlog.c (libzbd, unmodified, through the preload library),
 * built here and run against a mounted namespace with the volatile write cache on: the power is
 * cut while it writes, and recovery by reading to the write pointers must find every record it
 * reported as synced, in order; it then carries on appending.
 */
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { describe, it, expect } from 'vitest';
import { ROOT, cli, mounted, run, waitFor } from '../helpers/mount.js';
import { tmpDir } from '../helpers/tmp.js';

// Small zones (capacity below the zone size) so the log crosses many of them; one conventional
// zone it must leave alone; one open zone at a time is all it needs.
const GEO = ['--size', '32M', '--zone-size', '1M', '--zone-capacity', '768K', '--conv-zones', '1',
  '--max-open', '2', '--max-active', '2', '--volatile-cache'];

function libEnv(): NodeJS.ProcessEnv {
  return { ...process.env, LD_PRELOAD: cli(['preload']).stdout.trim() };
}

function recover(zlog: string, dev: string): { records: number; last: number; torn: number } {
  const r = spawnSync(zlog, ['recover', dev], { encoding: 'utf8', env: libEnv() });
  if (r.status !== 0) throw new Error(`recover failed: ${r.stderr}`);
  const m = /^records (\d+) last_seq (\d+) torn (\d+)$/.exec(r.stdout.trim());
  if (!m) throw new Error(`unexpected recover output: ${r.stdout}`);
  return { records: Number(m[1]), last: Number(m[2]), torn: Number(m[3]) };
}

/** The example built warning-free, and a fresh mount of GEO for it. */
async function zlogOnMount(): Promise<{ zlog: string; f: Awaited<ReturnType<typeof mounted>>; dev: string }> {
  const zlog = path.join(tmpDir('zonefuse-zlog-'), 'zlog');
  const cc = run('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', zlog, path.join(ROOT, 'examples/zoned-log/zlog.c'), '-lzbd']);
  expect(cc.stderr).toBe('');
  const f = await mounted(GEO);
  return { zlog, f, dev: f.ns() };
}

describe('examples/zoned-log (C on libzbd)', () => {
  it('recovers every synced record after power cuts in the middle of writing', async () => {
    const { zlog, f, dev } = await zlogOnMount();
    expect(recover(zlog, dev)).toEqual({ records: 0, last: 0, torn: 0 });

    let synced = 0;
    for (let cycle = 1; cycle <= 3; cycle++) {
      // Append far more than fits before the cut; cut once it has synced a few hundred more.
      const child = spawn(zlog, ['append', dev, '3000', '10'], { env: libEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      let exited = false;
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('exit', () => (exited = true));
      const lastSynced = (): number => Number(/synced (\d+)\n(?![\s\S]*synced)/.exec(out)?.[1] ?? synced);
      const target = synced + 200;
      await waitFor(() => exited || lastSynced() >= target, 'zlog to sync 200 records', 60_000);
      fs.writeFileSync(`${f.mnt}/nvme0n1.zones/ctl`, 'power-cycle\n');
      await waitFor(() => exited, 'zlog to stop', 60_000);
      const acknowledged = lastSynced();
      expect(acknowledged).toBeGreaterThanOrEqual(Math.min(target, synced + 1));
      // The writer saw its device go away (EIO), unless it had finished or filled the log.
      if (!/the log is full/.test(err) && child.exitCode !== 0) expect(err).toMatch(/Input\/output error/);
      const r = recover(zlog, dev);
      // Everything acknowledged survived; what was not may be lost, never reordered or corrupt.
      expect(r.records).toBe(r.last);
      expect(r.last).toBeGreaterThanOrEqual(acknowledged);
      synced = r.last;
    }
    // After recovery it carries on after the last record.
    const more = spawnSync(zlog, ['append', dev, '25'], { encoding: 'utf8', env: libEnv() });
    expect(more.stderr).toBe('');
    expect(more.stdout.trim().split('\n').pop()).toBe(`synced ${synced + 25}`);
    expect(recover(zlog, dev).last).toBe(synced + 25);
    // It used many zones, never more than one active at a time, and left the conventional zone alone.
    const info = fs.readFileSync(`${f.mnt}/nvme0n1.zones/info`, 'utf8');
    expect(Number(/^full_zones: (\d+)$/m.exec(info)![1])).toBeGreaterThan(3);
    expect(Number(/^active_zones: (\d+)$/m.exec(info)![1])).toBeLessThanOrEqual(1);
    expect(fs.readFileSync(f.zone(0)).every((b) => b === 0)).toBe(true);
  }, 240_000);

  it('skips read-only and offline zones (faults a real drive can have) when it writes and recovers', async () => {
    const { zlog, f, dev } = await zlogOnMount();
    // The first sequential zone goes read-only (with records in it), a later one offline.
    const first = spawnSync(zlog, ['append', dev, '10'], { encoding: 'utf8', env: libEnv() });
    expect(first.stderr).toBe('');
    fs.writeFileSync(`${f.mnt}/nvme0n1.zones/ctl`, 'readonly 1\n');
    fs.writeFileSync(`${f.mnt}/nvme0n1.zones/ctl`, 'offline 3\n');
    expect(recover(zlog, dev)).toEqual({ records: 10, last: 10, torn: 0 });
    const more = spawnSync(zlog, ['append', dev, '2000', '50'], { encoding: 'utf8', env: libEnv() });
    expect(more.stderr).toBe('');
    expect(more.stdout.trim().split('\n').pop()).toBe('synced 2010');
    expect(recover(zlog, dev)).toEqual({ records: 2010, last: 2010, torn: 0 });
    const report = fs.readFileSync(`${f.mnt}/nvme0n1.zones/report`, 'utf8').split('\n');
    expect(report[1]).toMatch(/zcond:13\(ro\)/);
    expect(report[3]).toMatch(/zcond:15\(of\)/);
  }, 240_000);
});
