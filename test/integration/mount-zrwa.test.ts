/**
 * ZRWA, device-initiated events and the OCSSD view over a real mount, driven by dd, the shell,
 * tail -f and the CLI (issue: ZRWA, device events with a controllable clock, OCSSD chunk view).
 */
import * as fs from 'node:fs';
import { spawn } from 'node:child_process';
import { describe, it, expect } from 'vitest';
import { cli, mounted, run, sh, waitFor, type Fixture } from '../helpers/mount.js';

/** 16 zones of 4 MiB (1024 LBAs), zone 0 conventional; ZRWA of 16 LBAs flushed by 4, 2 resources. */
const GEO = ['--size', '64M', '--zone-size', '4M', '--conv-zones', '1', '--max-open', '4', '--max-active', '4',
  '--zrwas', '64K', '--zrwafg', '16K', '--numzrwa', '2'];
const ZL = 1024;

function ctl(f: Fixture, line: string): ReturnType<typeof sh> {
  return sh(`echo '${line}' > '${f.mnt}/nvme0n1.zones/ctl'`);
}

function zoneJson(f: Fixture, z: number): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(`${f.mnt}/nvme0n1.zones/report.json`, 'utf8')).zones[z];
}

/** dd one LBA of `byte` at absolute LBA `lba` of the namespace file, O_DIRECT. */
function ddLba(f: Fixture, lba: number, byte: number, count = 1): ReturnType<typeof sh> {
  return sh(`head -c ${count * 4096} /dev/zero | tr '\\0' '\\${byte.toString(8)}' | ` +
    `dd of='${f.ns()}' bs=4k seek=${lba} count=${count} oflag=direct conv=notrunc iflag=fullblock status=none`);
}

/** First byte of each of `n` LBAs from `lba`. */
function firstBytes(f: Fixture, lba: number, n: number): number[] {
  const r = run('dd', [`if=${f.ns()}`, 'bs=4k', `skip=${lba}`, `count=${n}`, 'iflag=direct', 'status=none']);
  const b = Buffer.from(r.stdout, 'latin1');
  return Array.from({ length: n }, (_, i) => b[i * 4096]!);
}

function lastError(f: Fixture): string {
  return fs.readFileSync(`${f.mnt}/nvme0n1.zones/errors`, 'utf8').trimEnd().split('\n').pop() ?? '';
}

describe('ZRWA over a mount', () => {
  it('overwrites anywhere in the window with dd, flushes implicitly and explicitly, refuses append and strays', async () => {
    const f = await mounted(GEO);
    const s = 2 * ZL;
    expect(ctl(f, 'open 2 zrwa').status).toBe(0);
    expect(zoneJson(f, 2)).toMatchObject({ state: 'EXP_OPENED', zrwa: true, attrs: 8, wp: s });
    const bin = fs.readFileSync(`${f.mnt}/nvme0n1.zones/zones.bin`);
    expect([bin[64 + 48 * 2 + 41], bin[64 + 48 * 2 + 42]]).toEqual([0x3, 0x08]); // state, attributes (ZRWA valid)
    expect(ddLba(f, s + 4, 0o101, 2).status).toBe(0);
    expect(ddLba(f, s + 4, 0o102).status).toBe(0); // overwrite
    expect(ddLba(f, s, 0o103).status).toBe(0); // below the newest data, at the write pointer
    expect(firstBytes(f, s, 7)).toEqual([0x43, 0, 0, 0, 0x42, 0x41, 0]);
    expect(zoneJson(f, 2)).toMatchObject({ wp: s, zrwaEnd: s + 6 });
    expect(fs.statSync(f.zone(2)).size).toBe(6 * 4096); // the zone file shows the window's data

    const nvme = cli(['report', f.mnt, '--format', 'nvme']);
    expect(nvme.status, nvme.stderr).toBe(0);
    expect(nvme.stdout.split('\n')[3]).toMatch(/^SLBA: 0x800 +WP: 0x800 +Cap: 0x400 +State: 0x30 Type: 0x2  Attrs: 0x8 /);

    // Zone append (O_APPEND on the zone file) is refused: Invalid Zone Operation Request.
    const app = sh(`echo hi >> '${f.zone(2)}'`);
    expect(app.status).not.toBe(0);
    expect(lastError(f)).toMatch(/status=0x1b6 "Invalid Zone Operation Request" errno=EIO: zone 2 has a ZRWA/);

    // Ending 4 LBAs past the window (LBAs s..s+15): one implicit flush of 4 LBAs.
    expect(ddLba(f, s + 19, 0o104).status).toBe(0);
    expect(zoneJson(f, 2)).toMatchObject({ wp: s + 4, zrwaEnd: s + 20 });
    expect(fs.readFileSync(`${f.mnt}/nvme0n1.zones/report`, 'utf8').split('\n')[2]).toMatch(/wptr 0x000020 /);

    // Explicit flush up to and including LBA 11 of the zone (relative), then refusals.
    expect(ctl(f, 'zrwa-flush 2 11').status).toBe(0);
    expect(zoneJson(f, 2)).toMatchObject({ wp: s + 12 });
    expect(ctl(f, `zrwa-flush 2 ${s + 12}`).status).not.toBe(0);
    expect(lastError(f)).toMatch(/status=0x002 "Invalid Field in Command" errno=EINVAL: .*flush granularit/);
    expect(ctl(f, `zrwa-flush 2 ${s + 28}`).status).not.toBe(0);
    expect(lastError(f)).toMatch(/status=0x1b8 "Zone Boundary Error"/);
    expect(ddLba(f, s + 11, 0o105).status).not.toBe(0); // below the write pointer now
    expect(lastError(f)).toMatch(/Zone Invalid Write/);
    expect(ddLba(f, s + 12 + 32, 0o105).status).not.toBe(0); // beyond twice the window
    expect(firstBytes(f, s + 16, 4)).toEqual([0, 0, 0, 0x44]);

    // Resources: two ZRWAs; finish gives one back (and keeps the window's data).
    expect(ctl(f, 'open 3 zrwa').status).toBe(0);
    expect(ctl(f, 'open 4 zrwa').status).not.toBe(0);
    expect(lastError(f)).toMatch(/status=0x1b7 "ZRWA Resources Unavailable" errno=EIO/);
    expect(ctl(f, 'finish 2').status).toBe(0);
    expect(zoneJson(f, 2)).toMatchObject({ state: 'FULL', zrwa: false, attrs: 0 });
    expect(firstBytes(f, s + 19, 1)).toEqual([0x44]);
    expect(ctl(f, 'open 4 zrwa').status).toBe(0);
    expect(ctl(f, 'reset 4').status).toBe(0);
    expect(zoneJson(f, 4)).toMatchObject({ state: 'EMPTY', zrwa: false });
    expect(fs.readFileSync(`${f.mnt}/nvme0n1.zones/info`, 'utf8')).toMatch(/^zrwa_in_use: 1$/m);
  });

  it('keeps the ZRWA and the window data across unmount and kill -9', async () => {
    const f = await mounted(GEO);
    const s = 5 * ZL;
    expect(ctl(f, 'open 5 zrwa').status).toBe(0);
    expect(ddLba(f, s + 3, 0o141, 2).status).toBe(0);
    await f.daemon.stop();
    await f.daemon.start();
    expect(zoneJson(f, 5)).toMatchObject({ state: 'CLOSED', zrwa: true, wp: s, zrwaEnd: s + 5 });
    expect(firstBytes(f, s + 3, 2)).toEqual([0x61, 0x61]);
    expect(ddLba(f, s + 1, 0o142).status).toBe(0);
    await f.daemon.kill9();
    await f.daemon.start();
    expect(f.daemon.stderr).toMatch(/unclean shutdown/);
    expect(zoneJson(f, 5)).toMatchObject({ state: 'CLOSED', zrwa: true, attrs: 8 });
    expect(firstBytes(f, s, 5)).toEqual([0, 0x62, 0, 0x61, 0x61]);
  });

  it('with the volatile cache on, a power cycle keeps only what the last fsync made durable', async () => {
    const f = await mounted([...GEO, '--volatile-cache']);
    const s = 6 * ZL;
    expect(ctl(f, 'open 6 zrwa').status).toBe(0);
    expect(ddLba(f, s, 0o141, 4).status).toBe(0);
    expect(sh(`sync '${f.ns()}'`).status).toBe(0);
    expect(ddLba(f, s + 1, 0o142).status).toBe(0); // overwrite of a durable LBA
    expect(ddLba(f, s + 17, 0o143).status).toBe(0); // implicit flush of 4
    expect(zoneJson(f, 6)).toMatchObject({ wp: s + 4 });
    expect(cli(['power-cycle', f.mnt]).status).toBe(0);
    expect(zoneJson(f, 6)).toMatchObject({ state: 'CLOSED', zrwa: true, wp: s, zrwaEnd: s + 4 });
    expect(firstBytes(f, s, 5)).toEqual([0x61, 0x61, 0x61, 0x61, 0]);
    expect(firstBytes(f, s + 17, 1)).toEqual([0]);
  });
});

describe('device-initiated events', () => {
  const TIMED = ['--size', '64M', '--zone-size', '4M', '--conv-zones', '1', '--rrl', '3600', '--frl', '600'];
  const events = (f: Fixture): string[] => fs.readFileSync(`${f.mnt}/nvme0n1.zones/events`, 'utf8').split('\n').filter(Boolean);

  it('clock +SECONDS produces one events line per change, followable with tail -f, and they persist', async () => {
    const f = await mounted(TIMED);
    expect(events(f)).toEqual([]);
    expect(run('dd', ['if=/dev/zero', `of=${f.zone(2)}`, 'bs=4k', 'count=1', 'oflag=direct', 'status=none']).status).toBe(0);
    expect(ctl(f, 'finish 3').status).toBe(0);
    const tail = spawn('tail', ['-f', '-n', '+1', '-s', '0.2', `${f.mnt}/nvme0n1.zones/events`], { stdio: ['ignore', 'pipe', 'ignore'] });
    let followed = '';
    tail.stdout.on('data', (d: Buffer) => (followed += d.toString()));
    try {
      expect(ctl(f, 'clock +599').status).toBe(0);
      expect(events(f)).toEqual([]);
      expect(ctl(f, 'clock +1').status).toBe(0);
      const lines = events(f);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z zone 2 IMP_OPENED -> IMP_OPENED\+FZR \(finish recommended limit: active for 600 s\)$/);
      expect(zoneJson(f, 2)).toMatchObject({ finishRecommended: true, attrs: 2 });
      await waitFor(() => followed.includes('zone 2 '), 'tail -f to show the FZR line');
      const c = cli(['clock', f.mnt, '+1h']);
      expect(c.status, c.stderr).toBe(0);
      expect(zoneJson(f, 3)).toMatchObject({ resetRecommended: true, attrs: 4 });
      expect(ctl(f, 'excursion 2').status).toBe(0);
      expect(zoneJson(f, 2)).toMatchObject({ state: 'FULL', finishedByController: true, attrs: 1 });
      await waitFor(() => followed.split('\n').filter(Boolean).length === 3, 'tail -f to show three lines');
      expect(followed.split('\n')[1]).toMatch(/ zone 3 FULL -> FULL\+RZR \(reset recommended limit: Full for 3600 s\)$/);
      expect(followed.split('\n')[2]).toMatch(/ zone 2 IMP_OPENED\+FZR -> FULL\+ZFC \(zone active excursion: finished by the controller\)$/);
    } finally {
      tail.kill();
    }
    expect(ctl(f, 'excursion 4').status).not.toBe(0);
    expect(lastError(f)).toMatch(/Invalid Zone State Transition/);
    const nvme = cli(['report', f.mnt, '--format', 'nvme']).stdout.split('\n');
    expect(nvme[3]).toMatch(/State: 0xe0 .*Attrs: 0x1 /);
    expect(nvme[4]).toMatch(/State: 0xe0 .*Attrs: 0x4 /);

    await f.daemon.stop();
    await f.daemon.start();
    expect(events(f)).toHaveLength(3);
    expect(fs.readFileSync(`${f.mnt}/nvme0n1.zones/info`, 'utf8')).toMatch(/^reset_recommended_limit: 3600$/m);
    const ev = cli(['events', f.mnt]);
    expect(ev.stdout.split('\n').filter(Boolean)).toHaveLength(3);
    // The advanced clock persisted: the device clock is still more than 4200 s ahead.
    const info = fs.readFileSync(`${f.mnt}/nvme0n1.zones/info`, 'utf8');
    expect(Number(/^device_clock_offset: (\d+)/m.exec(info)![1])).toBe(4200);
  });
});

describe('OCSSD view', () => {
  it('reports chunk descriptors and the geometry of a known layout', async () => {
    const f = await mounted(['--size', '16M', '--zone-size', '4M', '--zone-capacity', '3M', '--conv-zones', '1', '--max-open', '2', '--max-active', '3']);
    expect(ctl(f, 'finish 1').status).toBe(0);
    expect(ctl(f, 'reset 1').status).toBe(0);
    expect(ctl(f, 'finish 1').status).toBe(0);
    expect(run('dd', ['if=/dev/zero', `of=${f.zone(2)}`, 'bs=4k', 'count=3', 'oflag=direct', 'status=none']).status).toBe(0);
    const r = cli(['report', f.mnt, '--format', 'ocssd']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe([
      'chunks: 4 (groups: 1, parallel units: 1, chunks per parallel unit: 4)',
      'CHUNK    GRP PU CHK      CS   STATE   CT   TYPE                WLI SLBA         CNLB       WP',
      '0        0   0  0        0x4  OPEN    0x2  RANDOM              0   0x0          0x400      0x400',
      '1        0   0  1        0x2  CLOSED  0x11 SEQUENTIAL+DEVIATES 1   0x400        0x300      0x700',
      '2        0   0  2        0x4  OPEN    0x11 SEQUENTIAL+DEVIATES 0   0x800        0x300      0x803',
      '3        0   0  3        0x1  FREE    0x11 SEQUENTIAL+DEVIATES 0   0xc00        0x300      0xc00',
      '',
    ].join('\n'));
    const g = cli(['info', f.mnt, '--format', 'ocssd']);
    expect(g.status, g.stderr).toBe(0);
    expect(g.stdout).toMatch(/^verid: 2\.0$/m);
    expect(g.stdout).toMatch(/^num_grp: 1\nnum_pu: 1\nnum_chk: 4\nclba: 1024\nchunk_capacity_lbas: 768$/m);
    expect(g.stdout).toMatch(/^lbaf: grp_len=0 pu_len=0 chk_len=2 lba_len=10$/m);
    expect(g.stdout).toMatch(/^maxoc: 2$/m);
  });
});
