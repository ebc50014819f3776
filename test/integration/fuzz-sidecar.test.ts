/**
 * Byte flips at every offset of a small sidecar (header, zone records, descriptor extensions,
 * fault block), at the store level: opening the namespace (as `info`/`report` and a mount do)
 * and `check` either refuse with a clear error naming the file, or the flip was harmless (the
 * namespace reads back exactly as before) or `check` reports it. Never a crash, a hang, an
 * unexplained exception or a silently different device.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createNamespace } from '../../src/store/store.js';
import { StoredNamespace } from '../../src/store/stored-namespace.js';
import { checkStore } from '../../src/store/check.js';
import { executeCommand, parseCommand } from '../../src/control/commands.js';
import { reportBuffer } from '../../src/format/report.js';
import { tmpDir } from '../helpers/tmp.js';
import { fuzz } from '../helpers/fuzz.js';

/** What a user of the namespace can observe of it: the zone report and the injected faults. */
function observe(store: string, writable = false): string {
  const ns = StoredNamespace.open(store, 'n', { readOnly: !writable });
  try {
    return reportBuffer(ns.engine, 'json').toString() + ns.listFaults().join('\n');
  } finally {
    ns.close();
  }
}

/** A refusal a user can act on: the store's own error types, with the file named. */
function clear(e: unknown, file: string): string | undefined {
  if (!(e instanceof Error)) return `threw a non-error ${String(e)}`;
  if (e instanceof TypeError || e instanceof RangeError || e instanceof ReferenceError) return `${e.name}: ${e.message}`;
  if (!e.message.includes(path.basename(file))) return `the message does not name the file: ${e.message}`;
  return undefined;
}

// No mount involved: run in the first pass of scripts/test only (the second repeats the
// integration tests on the libfuse3 backend).
describe.skipIf(process.env.ZONEFUSE_TEST_FUSE === 'libfuse3')('sidecar byte flips', () => {
  it('at every offset: a clear refusal, a harmless flip, or one check reports', { timeout: 600_000 }, () => {
    const f = fuzz('sidecar byte flips');
    const store = path.join(tmpDir('zonefuse-flip-'), 'store');
    createNamespace(store, { capacity: 16 * 1024 * 1024, zoneSize: 1024 * 1024, zoneCapacity: 768 * 1024, lbaSize: 512, convZones: 1, descrExtSize: 64, maxOpen: 3, maxActive: 4 }, { name: 'n' });
    // Some of everything the sidecar records: write pointers, states, an extension, faults.
    const ns = StoredNamespace.open(store, 'n');
    const e = ns.engine;
    const run = (line: string): void => {
      const r = executeCommand(ns, parseCommand(line, e.nrZones, e.nlba));
      if (r) throw new Error(`${line}: ${r.detail}`);
    };
    expect(ns.write(e.zoneLbas * 2, Buffer.alloc(8 * 512, 7), 0, 8 * 512)).toBeUndefined();
    expect(ns.write(e.zoneLbas * 3, Buffer.alloc(2 * 512, 9), 0, 2 * 512)).toBeUndefined();
    for (const line of ['finish 4', 'readonly 5', 'offline 6', `set-ext 7 ${'ab'.repeat(64)}`, 'recommend reset 8', 'fault write 5000 3 once', 'fault read 6000 1', 'fault random 77 1000 0']) run(line);
    ns.close();

    const meta = path.join(store, 'n.zmeta');
    const original = fs.readFileSync(meta);
    const expected = observe(store);
    const problems: string[] = [];
    let refused = 0;
    let harmless = 0;
    let reported = 0;
    const fd = fs.openSync(meta, 'r+');
    try {
      for (let off = 0; off < original.length; off++) {
        const flipped = original[off]! ^ (1 + f.int(255));
        fs.writeSync(fd, Buffer.of(flipped), 0, 1, off);
        const where = `offset ${off} (0x${original[off]!.toString(16)} -> 0x${flipped.toString(16)}, seed ${f.seed})`;
        let seen: string | undefined;
        try {
          seen = observe(store);
        } catch (err) {
          const why = clear(err, meta);
          if (why) problems.push(`${where}: open: ${why}`);
          refused++;
        }
        if (seen !== undefined) {
          if (seen === expected) {
            harmless++;
          } else {
            // A different device: acceptable only if check says something is wrong.
            let errors = 0;
            try {
              errors = checkStore(store).errors;
            } catch (err) {
              const why = clear(err, meta);
              if (why) problems.push(`${where}: check: ${why}`);
              errors = 1;
            }
            if (errors === 0) problems.push(`${where}: opens as a different device and check finds nothing`);
            reported++;
          }
        }
        // Every 64th offset also through check and a read-write open (what a mount does), which
        // may rewrite the header: the file is restored whole afterwards.
        if (off % 64 === 0) {
          try {
            checkStore(store);
          } catch (err) {
            const why = clear(err, meta);
            if (why) problems.push(`${where}: check: ${why}`);
          }
          try {
            observe(store, true);
          } catch (err) {
            const why = clear(err, meta);
            if (why) problems.push(`${where}: read-write open: ${why}`);
          }
          fs.writeSync(fd, original, 0, original.length, 0);
          fs.ftruncateSync(fd, original.length);
        } else {
          fs.writeSync(fd, original, off, 1, off);
        }
        if (problems.length > 20) break;
      }
    } finally {
      fs.closeSync(fd);
    }
    console.log(`sidecar byte flips: ${original.length} offsets: ${refused} refused, ${harmless} harmless, ${reported} reported by check`);
    expect(problems).toEqual([]);
    expect(observe(store)).toBe(expected);
  });
});
