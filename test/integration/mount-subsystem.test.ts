/**
 * A subsystem of several namespaces managed at run time (create, detach, attach, delete)
 * without unmounting, driven through the top-level ctl, the CLI, dd and python3.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { describe, it, expect } from 'vitest';
import { cli, mounted, run, sh, waitFor } from '../helpers/mount.js';

const MiB = 1024 * 1024;

function sha(file: string): string {
  return run('sha256sum', [file]).stdout.split(' ')[0]!;
}

describe('namespaces at run time', () => {
  it('three namespaces; detach one while another is written by a running dd; attach back; delete', async () => {
    const f = await mounted(['--size', '64M', '--zone-size', '4M', '--conv-zones', '1']);
    // A second zoned namespace with another geometry, and a plain (conventional) one.
    expect(cli(['create', f.mnt, '--ns', 'nvme0n2', '--size', '128M', '--zone-size', '8M', '--zone-capacity', '6M', '--lba-size', '512', '--conv-zones', '0']).status).toBe(0);
    expect(sh(`echo "create raw size=32M zoned=no" > ${f.mnt}/ctl`).status).toBe(0);
    expect(fs.readdirSync(f.mnt).sort()).toEqual(['ctl', 'errors', 'info', 'nvme0n1', 'nvme0n1.zones', 'nvme0n2', 'nvme0n2.zones', 'raw']);
    const info = fs.readFileSync(`${f.mnt}/info`, 'utf8');
    expect(info).toMatch(/^nvme0n2: attached zoned lba_size=512 capacity=134217728 zone_size=8388608 zone_capacity=6291456 zones=16 conv_zones=0/m);
    expect(info).toMatch(/^raw: attached not-zoned lba_size=4096 capacity=33554432$/m);

    // Write to all three.
    expect(run('dd', ['if=/dev/urandom', `of=${f.zone(2)}`, 'bs=64k', 'count=8', 'oflag=direct,append', 'conv=notrunc']).status).toBe(0);
    expect(run('dd', ['if=/dev/urandom', `of=${f.zone(3, 'nvme0n2')}`, 'bs=64k', 'count=8', 'oflag=direct,append', 'conv=notrunc']).status).toBe(0);
    expect(run('dd', ['if=/dev/urandom', `of=${f.ns('raw')}`, 'bs=4k', 'count=3', 'seek=1000', 'conv=notrunc']).status).toBe(0);
    const before = { z2: sha(f.zone(2)), n2: sha(f.zone(3, 'nvme0n2')), raw: sha(f.ns('raw')) };
    const report2 = fs.readFileSync(`${f.mnt}/nvme0n2.zones/report`, 'utf8');

    // A long dd into nvme0n1 runs while nvme0n2 is detached.
    const src = path.join(f.dir, 'src.bin');
    fs.writeFileSync(src, Buffer.alloc(3 * MiB, 7));
    const dd = spawn('dd', [`if=${src}`, `of=${f.zone(4)}`, 'bs=4k', 'oflag=direct,append', 'conv=notrunc'], { stdio: 'ignore' });
    const ddDone = new Promise<number>((resolve) => dd.on('exit', (c) => resolve(c ?? -1)));
    const holder = fs.openSync(f.zone(3, 'nvme0n2'), 'r');
    expect(cli(['ns', 'detach', f.mnt, 'nvme0n2']).stdout).toBe('nvme0n2: detached (its files stay in the store)\n');
    expect(fs.existsSync(f.ns('nvme0n2'))).toBe(false);
    // A file still open on the detached namespace fails like a device that went away.
    expect(() => fs.readSync(holder, Buffer.alloc(4096), 0, 4096, 0)).toThrow(/EIO/);
    fs.closeSync(holder);
    expect(await ddDone).toBe(0);
    expect(fs.statSync(f.zone(4)).size).toBe(3 * MiB);
    expect(sha(f.zone(4))).toBe(sha(src));
    expect(fs.readFileSync(`${f.mnt}/info`, 'utf8')).toMatch(/^nvme0n2: detached /m);

    expect(sh(`echo attach nvme0n2 > ${f.mnt}/ctl`).status).toBe(0);
    expect(sha(f.zone(3, 'nvme0n2'))).toBe(before.n2);
    // Detaching closed it cleanly: its implicitly opened zone came back Closed.
    expect(fs.readFileSync(`${f.mnt}/nvme0n2.zones/report`, 'utf8')).toBe(report2.replace('zcond: 2(oi)', 'zcond: 4(cl)'));
    expect(sha(f.zone(2))).toBe(before.z2);
    expect(sha(f.ns('raw'))).toBe(before.raw);

    // Delete: refused while a file is open, unless forced.
    const busy = fs.openSync(f.ns('raw'), 'r');
    const refused = cli(['ns', 'delete', f.mnt, 'raw']);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/EBUSY \(.*namespace raw is in use \(1 open file\)/);
    fs.closeSync(busy);
    expect(cli(['ns', 'delete', f.mnt, 'raw']).status).toBe(0);
    expect(fs.existsSync(f.ns('raw'))).toBe(false);
    expect(fs.existsSync(path.join(f.store, 'raw.data'))).toBe(false);
    expect(fs.existsSync(path.join(f.store, 'raw.zmeta'))).toBe(false);

    // Everything persists across a remount, detached state included.
    expect(cli(['ns', 'detach', f.mnt, 'nvme0n2']).status).toBe(0);
    await f.daemon.stop();
    await f.daemon.start();
    expect(fs.readdirSync(f.mnt).sort()).toEqual(['ctl', 'errors', 'info', 'nvme0n1', 'nvme0n1.zones']);
    // Naming the store of a running mount goes through that mount.
    expect(cli(['ns', 'attach', f.store, 'nvme0n2']).status).toBe(0);
    expect(sha(f.zone(3, 'nvme0n2'))).toBe(before.n2);
  });

  it('refuses bad and duplicate names with clear errors', async () => {
    const f = await mounted(['--size', '32M', '--zone-size', '4M']);
    const ctl = `${f.mnt}/ctl`;
    for (const bad of ['create ../x', 'create a/b', 'create ctl', 'create info', `create ${'n'.repeat(64)}`, 'create x.zones', 'create .hidden']) {
      expect(sh(`echo '${bad}' > ${ctl}`).stderr, bad).toMatch(/Invalid argument/);
    }
    expect(sh(`echo 'create nvme0n1' > ${ctl}`).stderr).toMatch(/File exists/);
    expect(sh(`echo 'create x size=10X' > ${ctl}`).stderr).toMatch(/Invalid argument/);
    expect(sh(`echo 'create x size=32M zone-size=3M' > ${ctl}`).stderr).toMatch(/Invalid argument/);
    expect(sh(`echo 'frob x' > ${ctl}`).stderr).toMatch(/Invalid argument/);
    expect(sh(`echo 'detach nope' > ${ctl}`).stderr).toMatch(/No such file or directory/);
    const errors = fs.readFileSync(`${f.mnt}/errors`, 'utf8');
    expect(errors).toMatch(/invalid namespace name "\.\.\/x": the name contains "\/"/);
    expect(errors).toMatch(/"ctl" is reserved for a control file/);
    expect(errors).toMatch(/namespace nvme0n1 already exists/);
    expect(errors).toMatch(/capacity 33554432 is not a multiple of the zone size 3145728/);
    const c = cli(['create', f.mnt, '--ns', 'nvme0n1']);
    expect(c.status).toBe(1);
    // Checked before the CLI picks a path: the same message as for an unmounted store.
    expect(c.stderr).toMatch(/^zonefuse: namespace nvme0n1 already exists in store \S+\n$/);
  });

  it('a daemon killed during a create leaves a half-made namespace that the next mount removes', async () => {
    const f = await mounted(['--size', '32M', '--zone-size', '4M']);
    await f.daemon.stop();
    await f.daemon.start([], { ZONEFUSE_TEST_CRASH: 'create-before-rename' });
    sh(`echo 'create nvme0n9 size=16M zone-size=4M' > ${f.mnt}/ctl`);
    await waitFor(() => f.daemon.exitCode !== null, 'the daemon to die');
    expect(fs.existsSync(path.join(f.store, 'nvme0n9.zmeta.tmp'))).toBe(true);
    await f.daemon.start();
    expect(f.daemon.stderr).toMatch(/removed half-created namespace nvme0n9/);
    expect(fs.readdirSync(f.store).filter((n) => n.startsWith('nvme0n9'))).toEqual([]);
    expect(fs.readdirSync(f.mnt)).toContain('nvme0n1');
    // And the name can be used again.
    expect(sh(`echo 'create nvme0n9 size=16M zone-size=4M' > ${f.mnt}/ctl`).status).toBe(0);
  });
});
