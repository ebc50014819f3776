/**
 * Every CLI command that can reach a store two ways — through a running daemon's ctl files, or
 * straight into an unmounted store — validates its arguments once, before choosing the way:
 * the same refusal (exit status and one-line message) on both, and nothing created or changed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it, expect } from 'vitest';
import { Daemon, cli } from '../helpers/mount.js';
import { tmpDir } from '../helpers/tmp.js';

const GEO = ['--size', '16M', '--zone-size', '1M', '--conv-zones', '1'];

/** Two identical stores, `mounted` served by a daemon and `offline` not. */
async function twoStores(): Promise<{ mounted: string; mnt: string; offline: string }> {
  const dir = tmpDir('zonefuse-paths-');
  const mounted = path.join(dir, 'mounted');
  const offline = path.join(dir, 'offline');
  for (const s of [mounted, offline]) {
    for (const args of [['--ns', 'nvme0n1', ...GEO], ['--ns', 'plain', '--no-zoned', '--size', '1M'], ['--ns', 'spare', ...GEO]]) {
      const r = cli(['create', s, ...args]);
      if (r.status !== 0) throw new Error(r.stderr);
    }
    expect(cli(['ns', 'detach', s, 'spare']).status).toBe(0);
  }
  const mnt = path.join(dir, 'mnt');
  await new Daemon(mounted, mnt).start();
  return { mounted, mnt, offline };
}

/** What a refused command may not change: the store's files and every zone's state. */
function snapshot(store: string): string {
  const files = fs.readdirSync(store).filter((f) => !f.startsWith('.')).sort();
  const report = cli(['report', store, '--ns', 'nvme0n1']).stdout;
  return files.join(' ') + '\n' + report;
}

describe('one validation for both paths', () => {
  it('refuses the same create options the same way, mounted or not, and creates nothing', { timeout: 300_000 }, async () => {
    const s = await twoStores();
    const cases: string[][] = [
      ['--ns', ''],
      ['--ns', 'a b'],
      ['--ns', 'x size=1G'],
      ['--ns', 'two\nlines'],
      ['--ns', 'ctl'],
      ['--ns', 'x.zones'],
      ['--ns', '../escape'],
      ['--ns', 'n'.repeat(64)],
      ['--ns', 'nvme0n1'],
      ['--ns', 'spare'],
      ['--size', '10X'],
      ['--size', '0'],
      ['--size', '3M', '--zone-size', '2M'],
      ['--zone-size', '4M', '--zone-capacity', '8M', '--size', '16M'],
      ['--max-open', '5', '--max-active', '3'],
      ['--lba-size', '1000'],
      ['--lba-size', '512', '--size', '1000'],
      ['--conv-zones', '99999'],
      ['--descr-ext-size', '65'],
      ['--max-open', '-1'],
      ['--endianness', 'middle'],
      ['--no-zoned', '--size', '1000'],
      ['--no-zoned', '--size', '1M', '--zone-size', '1M'],
      ['--no-zoned', '--size', '1M', '--zrwas', '8K', '--host-aware'],
    ];
    const before = { mounted: snapshot(s.mounted), offline: snapshot(s.offline), info: fs.readFileSync(`${s.mnt}/info`, 'utf8') };
    for (const args of cases) {
      const m = cli(['create', s.mounted, ...args]);
      const o = cli(['create', s.offline, ...args]);
      const what = JSON.stringify(args);
      expect(m.status, what).not.toBe(0);
      expect(o.status, what).not.toBe(0);
      expect(m.stdout, what).toBe('');
      expect(m.stderr.split(s.mounted).join('STORE'), what).toBe(o.stderr.split(s.offline).join('STORE'));
      expect(m.stderr.trimEnd().split('\n'), what).toHaveLength(1);
      expect(m.stderr, what).not.toMatch(/\n\s+at /);
    }
    expect(cli(['create', s.mounted, '--ns', '']).stderr).toBe('zonefuse: invalid namespace name "": the name is empty\n');
    expect(cli(['create', s.offline, '--no-zoned', '--size', '1M', '--zrwas', '8K', '--host-aware']).stderr)
      .toBe('zonefuse: --zrwas, --host-aware apply to zoned namespaces only: not with --no-zoned\n');
    expect(snapshot(s.mounted)).toBe(before.mounted);
    expect(snapshot(s.offline)).toBe(before.offline);
    expect(fs.readFileSync(`${s.mnt}/info`, 'utf8')).toBe(before.info);
    // A valid create still takes either path.
    expect(cli(['create', s.mounted, '--ns', 'extra', ...GEO]).status).toBe(0);
    expect(fs.existsSync(`${s.mnt}/extra.zones/ctl`)).toBe(true);
  });

  it('refuses the same zone, fault and namespace arguments the same way, mounted or not', { timeout: 300_000 }, async () => {
    const s = await twoStores();
    const cases: string[][] = [
      // A line break would be a second command on the mounted path.
      ['zone', 'reset', 'STORE', '1\nreset all', '--ns', 'nvme0n1'],
      ['zone', 'finish', 'STORE', '1', '--ns', ''],
      ['zone', 'finish', 'STORE', '1', '--ns', 'spare'],
      ['zone', 'finish', 'STORE', '1', '--ns', 'plain'],
      ['zone', 'finish', 'STORE', '0', '--ns', 'nvme0n1'],
      ['zone', 'finish', 'STORE', '16', '--ns', 'nvme0n1'],
      ['zone', 'finish', 'STORE', 'x', '--ns', 'nvme0n1'],
      ['fault', 'add', 'STORE', 'write', '5', '1\nfault clear', '--ns', 'nvme0n1'],
      ['fault', 'list', 'STORE', '--ns', 'nope'],
      ['ns', 'delete', 'STORE', 'spare force'],
      ['ns', 'delete', 'STORE', ''],
      ['ns', 'attach', 'STORE', 'nvme0n1\ndetach nvme0n1'],
      ['ns', 'detach', 'STORE', 'nope'],
    ];
    const before = { mounted: snapshot(s.mounted), offline: snapshot(s.offline) };
    for (const c of cases) {
      const m = cli(c.map((a) => (a === 'STORE' ? s.mounted : a)));
      const o = cli(c.map((a) => (a === 'STORE' ? s.offline : a)));
      const what = JSON.stringify(c);
      expect(m.status, what).not.toBe(0);
      expect(o.status, what).not.toBe(0);
      expect(m.stderr.trimEnd().split('\n'), what).toHaveLength(1);
      expect(o.stderr.trimEnd().split('\n'), what).toHaveLength(1);
      // The daemon's refusal names the errno and its errors line; the offline one names the problem.
      if (!/EINVAL|EEXIST|ENOENT|EBUSY|EIO/.test(m.stderr)) {
        expect(m.stderr.split(s.mounted).join('STORE'), what).toBe(o.stderr.split(s.offline).join('STORE'));
      }
    }
    expect(snapshot(s.mounted)).toBe(before.mounted);
    expect(snapshot(s.offline)).toBe(before.offline);
    // A detached namespace's faults are listed from its files, mounted or not.
    expect(cli(['fault', 'list', s.mounted, '--ns', 'spare']).status).toBe(0);
  });
});
