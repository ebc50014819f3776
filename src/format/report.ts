/**
 * Zone report formatters, shared by the `report` control file and the CLI:
 * - blkzone: util-linux `blkzone report` (512-byte sectors, wptr relative to the zone start,
 *   Full zones show wptr = len as Linux reports them);
 * - nvme: nvme-cli `zns report-zones` (LBAs, raw state byte, WP ~0 for Full/RO/Offline);
 * - json: our own, lossless.
 */
import { ZoneDescriptor, ZonedNamespace } from '../engine/namespace.js';
import { BLKZONE_COND, BLKZONE_TYPE, ZoneState, ZoneType, stateName } from '../engine/zone.js';

export type ReportFormat = 'blkzone' | 'nvme' | 'json';
export const REPORT_FORMATS: readonly ReportFormat[] = ['blkzone', 'nvme', 'json'];

function hexPad(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/** Does the zone have a valid write pointer (NVMe: not Full, Read Only or Offline)? */
function wpValid(s: ZoneState): boolean {
  return s !== ZoneState.FULL && s !== ZoneState.READ_ONLY && s !== ZoneState.OFFLINE;
}

/** One `blkzone report` line. */
export function blkzoneLine(d: ZoneDescriptor, lbaSize: number): string {
  const spl = lbaSize / 512;
  const start = d.zslba * spl;
  const len = d.zsze * spl;
  const cap = d.zcap * spl;
  let wptr: string;
  if (d.type === ZoneType.CONVENTIONAL) wptr = hexPad(0, 6);
  else if (d.state === ZoneState.FULL) wptr = hexPad(len, 6); // Linux reports wp = start + len for Full
  else if (d.state === ZoneState.OFFLINE || d.state === ZoneState.READ_ONLY) {
    // The write pointer is invalid: Linux (null_blk) reports wp = ~0, so wptr = ~0 - start.
    wptr = (0xffffffffffffffffn - BigInt(start)).toString(16);
  } else wptr = hexPad((d.wp - d.zslba) * spl, 6);
  const cond = d.state;
  const reset = (d.attrs & 0x04) !== 0 ? 1 : 0;
  const nonSeq = d.nonSeq ? 1 : 0;
  return `  start: 0x${hexPad(start, 9)}, len 0x${hexPad(len, 6)}, cap 0x${hexPad(cap, 6)}, wptr 0x${wptr}` +
    ` reset:${reset} non-seq:${nonSeq}, zcond:${String(cond).padStart(2)}(${BLKZONE_COND[cond & 0xf]}) [type: ${d.type}(${BLKZONE_TYPE[d.type]})]`;
}

export function formatBlkzone(zones: ZoneDescriptor[], lbaSize: number): string {
  let out = '';
  for (const d of zones) out += blkzoneLine(d, lbaSize) + '\n';
  return out;
}

/** C printf("%#-10lx"): 0 prints as "0", others as 0x…, left-justified in `width`. */
function altHex(n: number, width: number): string {
  const s = n === 0 ? '0' : '0x' + n.toString(16);
  return s.padEnd(width);
}

const ALL_ONES = 'ffffffffffffffff';

/** nvme-cli `zns report-zones` (default output) for the given descriptors. */
export function formatNvme(zones: ZoneDescriptor[], nrZones: number): string {
  let out = `nr_zones: ${nrZones}\n`;
  for (const d of zones) {
    const wp = wpValid(d.state) ? altHex(d.wp, 10) : ('0x' + ALL_ONES).padEnd(10);
    // nvme-cli prints the raw state byte (ZS << 4); conventional zones do not exist in NVMe,
    // we show them with state 0 and type 0x1.
    out += `SLBA: ${altHex(d.zslba, 10)} WP: ${wp} Cap: ${altHex(d.zcap, 10)} State: ${altHex(d.state << 4, 4)} ` +
      `Type: ${altHex(d.type, 4)} Attrs: ${altHex(d.attrs, 4)} AttrsInfo: ${altHex(d.attrsInfo, 4)}\n`;
  }
  return out;
}

export interface JsonZone {
  zone: number;
  start: number;
  len: number;
  cap: number;
  wp: number | null;
  state: string;
  type: string;
  attrs: number;
  nonSeq: boolean;
  resetRecommended: boolean;
  finishRecommended: boolean;
  finishedByController: boolean;
  /** The zone holds a Zone Random Write Area (attribute ZRWAV). */
  zrwa: boolean;
  /** ZRWA zones: one past the highest LBA written in the window (reads see data up to here). */
  zrwaEnd?: number;
  resets: number;
  finishes: number;
  lbasWritten: number;
  ext?: string;
}

const JSON_TYPE: Record<number, string> = {
  [ZoneType.CONVENTIONAL]: 'CONVENTIONAL',
  [ZoneType.SEQ_WRITE_REQUIRED]: 'SEQWRITE_REQ',
  [ZoneType.SEQ_WRITE_PREFERRED]: 'SEQWRITE_PREF',
};

/** JSON: LBAs throughout; wp is null where the NVMe write pointer is invalid. */
export function jsonZone(d: ZoneDescriptor): JsonZone {
  const z: JsonZone = {
    zone: d.zone,
    start: d.zslba,
    len: d.zsze,
    cap: d.zcap,
    wp: d.type === ZoneType.CONVENTIONAL || !wpValid(d.state) ? null : d.wp,
    state: stateName(d.state),
    type: JSON_TYPE[d.type] ?? 'UNKNOWN',
    attrs: d.attrs,
    nonSeq: d.nonSeq,
    resetRecommended: (d.attrs & 0x04) !== 0,
    finishRecommended: (d.attrs & 0x02) !== 0,
    finishedByController: (d.attrs & 0x01) !== 0,
    zrwa: (d.attrs & 0x08) !== 0,
    resets: d.resets,
    finishes: d.finishes,
    lbasWritten: d.lbasWritten,
  };
  if (z.zrwa) z.zrwaEnd = d.zrwaEnd;
  if (d.ext) z.ext = Buffer.from(d.ext).toString('hex');
  return z;
}

/** One zone as a JSON object, written by hand (3x faster than JSON.stringify at 100k zones). */
export function jsonZoneText(d: ZoneDescriptor): string {
  const wp = d.type === ZoneType.CONVENTIONAL || !wpValid(d.state) ? 'null' : String(d.wp);
  const ext = d.ext ? `,"ext":"${Buffer.from(d.ext).toString('hex')}"` : '';
  return `{"zone":${d.zone},"start":${d.zslba},"len":${d.zsze},"cap":${d.zcap},"wp":${wp},` +
    `"state":"${stateName(d.state)}","type":"${JSON_TYPE[d.type] ?? 'UNKNOWN'}","attrs":${d.attrs},` +
    `"nonSeq":${d.nonSeq},"resetRecommended":${(d.attrs & 0x04) !== 0},"finishRecommended":${(d.attrs & 0x02) !== 0},` +
    `"finishedByController":${(d.attrs & 0x01) !== 0},"zrwa":${(d.attrs & 0x08) !== 0},` +
    ((d.attrs & 0x08) !== 0 ? `"zrwaEnd":${d.zrwaEnd},` : '') +
    `"resets":${d.resets},"finishes":${d.finishes},"lbasWritten":${d.lbasWritten}${ext}}`;
}

export function formatJson(zones: ZoneDescriptor[], nrZones: number, lbaSize: number): string {
  return `{"lba_size":${lbaSize},"nr_zones":${nrZones},"zones":[\n${zones.map(jsonZoneText).join(',\n')}\n]}\n`;
}

/**
 * A whole-namespace report straight from the engine into one Buffer, with no object per zone:
 * what the `report` and `report.json` control files serve (a 100k-zone report is ~13-22 MB).
 */
export function reportBuffer(e: ZonedNamespace, format: 'blkzone' | 'json'): Buffer {
  const chunks: Buffer[] = [];
  let cur = Buffer.allocUnsafe(1 << 20);
  let pos = 0;
  const put = (text: string): void => {
    if (pos + text.length > cur.length) {
      chunks.push(cur.subarray(0, pos));
      cur = Buffer.allocUnsafe(Math.max(1 << 20, text.length));
      pos = 0;
    }
    pos += cur.write(text, pos, 'latin1');
  };
  const d = {} as ZoneDescriptor;
  const n = e.nrZones;
  if (format === 'json') put(`{"lba_size":${e.lbaSize},"nr_zones":${n},"zones":[\n`);
  for (let z = 0; z < n; z++) {
    e.describeInto(z, d);
    if (format === 'blkzone') {
      put(blkzoneLine(d, e.lbaSize) + '\n');
    } else {
      const ext = e.extOf(z);
      if (ext) d.ext = ext;
      put(jsonZoneText(d) + (z + 1 < n ? ',\n' : '\n'));
    }
  }
  if (format === 'json') put(']}\n');
  chunks.push(cur.subarray(0, pos));
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

export function formatReport(format: ReportFormat, zones: ZoneDescriptor[], nrZones: number, lbaSize: number): string {
  switch (format) {
    case 'blkzone': return formatBlkzone(zones, lbaSize);
    case 'nvme': return formatNvme(zones, nrZones);
    case 'json': return formatJson(zones, nrZones, lbaSize);
  }
}
