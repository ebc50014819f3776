/**
 * The Open-Channel SSD 2.0 view of a zoned namespace (PRODUCT.md §10): the same zones as chunks
 * of one group and one parallel unit, with OCSSD's chunk descriptor fields (OCSSD 2.0 §2.3,
 * Get Log Page - Chunk Information) and a geometry summary (§1.4, Geometry command). Read-only:
 * nothing about the zone model changes.
 *
 * Chunk state: Empty → free; open or Closed (written in part, or holding a resource) → open;
 * Full and Read Only (no more writes, data readable) → closed; Offline → offline. Conventional
 * zones are chunks that allow random writes, always open. The wear-level index is the zone's
 * reset count, capped at 255. Chunk type bit 4 says the chunk's LBA count deviates from the
 * geometry's chunk size, which is the case when the zone capacity is below the zone size.
 */
import { ZoneDescriptor, ZonedNamespace } from '../engine/namespace.js';
import { ZoneState, ZoneType } from '../engine/zone.js';

export const ChunkState = Object.freeze({ FREE: 0x1, CLOSED: 0x2, OPEN: 0x4, OFFLINE: 0x8 });
export const ChunkType = Object.freeze({ SEQUENTIAL: 0x1, RANDOM: 0x2, SIZE_DEVIATES: 0x10 });

export interface ChunkDescriptor {
  /** Chunk index = zone index (one group, one parallel unit). */
  chunk: number;
  cs: number;
  ct: number;
  wli: number;
  slba: number;
  cnlb: number;
  wp: number;
}

export function chunkOf(d: ZoneDescriptor): ChunkDescriptor {
  const conv = d.type === ZoneType.CONVENTIONAL;
  let cs: number;
  let wp: number;
  if (conv) {
    cs = ChunkState.OPEN;
    wp = d.zslba + d.zcap;
  } else {
    switch (d.state) {
      case ZoneState.EMPTY: cs = ChunkState.FREE; wp = d.zslba; break;
      case ZoneState.FULL:
      case ZoneState.READ_ONLY: cs = ChunkState.CLOSED; wp = d.zslba + d.zcap; break;
      case ZoneState.OFFLINE: cs = ChunkState.OFFLINE; wp = d.zslba; break;
      default: cs = ChunkState.OPEN; wp = d.wp;
    }
  }
  const ct = (conv ? ChunkType.RANDOM : ChunkType.SEQUENTIAL) | (d.zcap !== d.zsze ? ChunkType.SIZE_DEVIATES : 0);
  return { chunk: d.zone, cs, ct, wli: Math.min(255, d.resets), slba: d.zslba, cnlb: d.zcap, wp };
}

const STATE_NAMES: Record<number, string> = { 0x1: 'FREE', 0x2: 'CLOSED', 0x4: 'OPEN', 0x8: 'OFFLINE' };

function typeName(ct: number): string {
  return ((ct & ChunkType.RANDOM) !== 0 ? 'RANDOM' : 'SEQUENTIAL') + ((ct & ChunkType.SIZE_DEVIATES) !== 0 ? '+DEVIATES' : '');
}

const hex = (n: number): string => '0x' + n.toString(16);

/** One line per chunk, under a header naming OCSSD's descriptor fields. */
export function formatOcssdReport(e: ZonedNamespace): string {
  const lines = [
    `chunks: ${e.nrZones} (groups: 1, parallel units: 1, chunks per parallel unit: ${e.nrZones})`,
    `${'CHUNK'.padEnd(8)} GRP PU ${'CHK'.padEnd(8)} ${'CS'.padEnd(4)} ${'STATE'.padEnd(7)} ${'CT'.padEnd(4)} ${'TYPE'.padEnd(19)} ${'WLI'.padEnd(3)} ` +
      `${'SLBA'.padEnd(12)} ${'CNLB'.padEnd(10)} WP`,
  ];
  const d = {} as ZoneDescriptor;
  for (let z = 0; z < e.nrZones; z++) {
    const c = chunkOf(e.describeInto(z, d));
    lines.push(`${String(c.chunk).padEnd(8)} 0   0  ${String(c.chunk).padEnd(8)} ${hex(c.cs).padEnd(4)} ${STATE_NAMES[c.cs]!.padEnd(7)} ` +
      `${hex(c.ct).padEnd(4)} ${typeName(c.ct).padEnd(19)} ${String(c.wli).padEnd(3)} ${hex(c.slba).padEnd(12)} ${hex(c.cnlb).padEnd(10)} ${hex(c.wp)}`);
  }
  return lines.join('\n') + '\n';
}

/** Bits needed to address `n` values (at least 0). */
function bits(n: number): number {
  return n <= 1 ? 0 : Math.ceil(Math.log2(n));
}

/** The Geometry command's answer, as `key: value` lines. */
export function ocssdGeometry(e: ZonedNamespace): Array<[string, string | number]> {
  const g = e.geometry;
  const optimal = Math.max(1, Math.floor(4096 / g.lbaSize));
  return [
    ['verid', '2.0'],
    ['major_version', 2],
    ['minor_version', 0],
    ['lbaf', `grp_len=0 pu_len=0 chk_len=${bits(e.nrZones)} lba_len=${bits(e.zoneLbas)}`],
    ['mccap', '0x0'],
    ['wit', 0],
    ['num_grp', 1],
    ['num_pu', 1],
    ['num_chk', e.nrZones],
    ['clba', e.zoneLbas],
    ['chunk_capacity_lbas', e.capLbas],
    ['lba_size', g.lbaSize],
    ['ws_min', 1],
    ['ws_opt', optimal],
    ['mw_cunits', 0],
    ['maxoc', g.maxOpen],
    ['maxocpu', g.maxOpen],
    ['trdt', 0], ['trdm', 0], ['twrt', 0], ['twrm', 0], ['tcrst', 0], ['tcrsm', 0],
  ];
}
