/**
 * Zone states, types and attributes, numbered as on the wire so that reports and the sidecar
 * can use the values directly. State values are the NVMe ZS field (= Linux blk_zone.cond);
 * NOT_WP (0) is what Linux reports for a conventional zone.
 */

export enum ZoneState {
  NOT_WP = 0x0,
  EMPTY = 0x1,
  IMPLICIT_OPEN = 0x2,
  EXPLICIT_OPEN = 0x3,
  CLOSED = 0x4,
  READ_ONLY = 0xd,
  FULL = 0xe,
  OFFLINE = 0xf,
}

/** Linux blk_zone.type values. NVMe ZNS only has SEQ_WRITE_REQUIRED (ZT 0x2). */
export enum ZoneType {
  CONVENTIONAL = 0x1,
  SEQ_WRITE_REQUIRED = 0x2,
  SEQ_WRITE_PREFERRED = 0x3,
}

/** Zone Attributes byte of the zone descriptor (ZNS §3.4.2.2.3). */
export enum ZoneAttr {
  /** Zone Finished by Controller */
  ZFC = 0x01,
  /** Finish Zone Recommended */
  FZR = 0x02,
  /** Reset Zone Recommended */
  RZR = 0x04,
  /** Zone Random Write Area Valid: the zone holds a ZRWA resource */
  ZRWAV = 0x08,
  /** Zone Descriptor Extension Valid */
  ZDEV = 0x80,
}

export const ALL_ZONE_STATES: readonly ZoneState[] = [
  ZoneState.NOT_WP,
  ZoneState.EMPTY,
  ZoneState.IMPLICIT_OPEN,
  ZoneState.EXPLICIT_OPEN,
  ZoneState.CLOSED,
  ZoneState.READ_ONLY,
  ZoneState.FULL,
  ZoneState.OFFLINE,
];

const STATE_NAMES: Record<number, string> = {
  [ZoneState.NOT_WP]: 'NOT_WP',
  [ZoneState.EMPTY]: 'EMPTY',
  [ZoneState.IMPLICIT_OPEN]: 'IMP_OPENED',
  [ZoneState.EXPLICIT_OPEN]: 'EXP_OPENED',
  [ZoneState.CLOSED]: 'CLOSED',
  [ZoneState.READ_ONLY]: 'READONLY',
  [ZoneState.FULL]: 'FULL',
  [ZoneState.OFFLINE]: 'OFFLINE',
};

/** nvme-cli's state strings (and NOT_WP for conventional zones). */
export function stateName(s: number): string {
  return STATE_NAMES[s] ?? 'Unknown State';
}

/** util-linux blkzone's two-letter condition codes, indexed by cond & 0xf. */
export const BLKZONE_COND = [
  'nw', 'em', 'oi', 'oe', 'cl', 'x5', 'x6', 'x7', 'x8', 'x9', 'xA', 'xB', 'xC', 'ro', 'fu', 'of',
] as const;

export const BLKZONE_TYPE = [
  'RESERVED', 'CONVENTIONAL', 'SEQ_WRITE_REQUIRED', 'SEQ_WRITE_PREFERRED',
] as const;

export function isOpen(s: number): boolean {
  return s === ZoneState.IMPLICIT_OPEN || s === ZoneState.EXPLICIT_OPEN;
}

/** Active = holds an active resource: open or closed (ZNS §2.1.1.4). */
export function isActive(s: number): boolean {
  return s === ZoneState.IMPLICIT_OPEN || s === ZoneState.EXPLICIT_OPEN || s === ZoneState.CLOSED;
}

export function isValidStoredState(s: number): boolean {
  return STATE_NAMES[s] !== undefined;
}
