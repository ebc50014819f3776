/**
 * Namespace geometry and limits (PRODUCT.md §2): what the user chooses at create time.
 * Everything here is in bytes, as on the CLI; the engine converts to LBAs once.
 */

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

/** Zone model of the sequential zones: host-managed (SWR) or host-aware (SWP). */
export type ZoneModel = 'host-managed' | 'host-aware';

export interface Geometry {
  /** Logical block size in bytes: a power of two from 512 to 65536. */
  lbaSize: number;
  /** Namespace capacity in bytes. */
  capacity: number;
  /** false: a plain random-access namespace with no zones. */
  zoned: boolean;
  /** Zone size in bytes (zoned only). */
  zoneSize: number;
  /** Writable bytes per sequential zone, ≤ zoneSize. */
  zoneCapacity: number;
  /** Number of leading conventional zones. */
  convZones: number;
  /** Max open zones; 0 = unlimited. */
  maxOpen: number;
  /** Max active zones; 0 = unlimited. */
  maxActive: number;
  /** Zone append size limit in bytes; 0 = no limit beyond the transfer size. */
  zasl: number;
  /** Zone descriptor extension size in bytes: a multiple of 64, at most 16320; 0 = none. */
  descrExtSize: number;
  /** Reads may cross zone boundaries. */
  crossRead: boolean;
  /** SWR zones (host-managed) or SWP zones (host-aware). */
  zoneModel: ZoneModel;
  /**
   * The controller may close the oldest implicitly opened zone to free an open resource
   * (QEMU's zoned.auto_transition).
   */
  autoTransition: boolean;
  /** Zone Random Write Area size in bytes (QEMU zoned.zrwas); 0 = no ZRWA support. */
  zrwas: number;
  /** ZRWA flush granularity in bytes (zoned.zrwafg); 0 = one LBA. Divides zrwas. */
  zrwafg: number;
  /** ZRWA resources (zoned.numzrwa): zones that can hold a ZRWA at once; 0 = as many as may be active. */
  numzrwa: number;
  /** Reset Recommended Limit in seconds: a zone Full this long gets RZR; 0 = never. */
  rrl: number;
  /** Finish Recommended Limit in seconds: a zone active this long gets FZR; 0 = never. */
  frl: number;
}

export const DEFAULT_GEOMETRY: Readonly<Geometry> = Object.freeze({
  lbaSize: 4096,
  capacity: 4 * GiB,
  zoned: true,
  zoneSize: 64 * MiB,
  zoneCapacity: 64 * MiB,
  convZones: 2,
  maxOpen: 14,
  maxActive: 14,
  zasl: 0,
  descrExtSize: 0,
  crossRead: true,
  zoneModel: 'host-managed',
  autoTransition: true,
  zrwas: 0,
  zrwafg: 0,
  numzrwa: 0,
  rrl: 0,
  frl: 0,
});

export const MAX_DESCR_EXT_SIZE = 255 * 64;
/**
 * Far more zones than any zoned drive has (a 30 TB SMR disk has about 115,000), and as many as a
 * create can lay out in seconds: each zone costs a sidecar record and engine state, all written
 * or allocated up front, so 2^32 tiny zones would exhaust the daemon's memory instead.
 */
export const MAX_ZONES = 1 << 20;

/** A geometry the user asked for is impossible. The message names the field. */
export class GeometryError extends Error {
  readonly field: keyof Geometry;
  constructor(field: keyof Geometry, message: string) {
    super(message);
    this.name = 'GeometryError';
    this.field = field;
  }
}

/**
 * Fill in defaults. A zone capacity left unset follows the zone size, and limits left unset
 * are clamped to the number of sequential zones only when that would otherwise be invalid.
 */
export function resolveGeometry(partial: Partial<Geometry> = {}): Geometry {
  const g: Geometry = { ...DEFAULT_GEOMETRY };
  for (const [k, v] of Object.entries(partial)) {
    if (v !== undefined) (g as unknown as Record<string, unknown>)[k] = v;
  }
  if (partial.zoneCapacity === undefined && partial.zoneSize !== undefined) {
    g.zoneCapacity = partial.zoneSize;
  }
  // A user who sets only one limit expects the other to follow it, not an error.
  if (partial.maxOpen === undefined && partial.maxActive !== undefined && partial.maxActive !== 0) {
    g.maxOpen = Math.min(DEFAULT_GEOMETRY.maxOpen, partial.maxActive);
  }
  if (partial.maxActive === undefined && partial.maxOpen !== undefined) {
    g.maxActive = partial.maxOpen === 0 ? 0 : Math.max(DEFAULT_GEOMETRY.maxActive, partial.maxOpen);
  }
  if (!g.zoned) {
    g.zoneSize = 0;
    g.zoneCapacity = 0;
    g.convZones = 0;
    g.maxOpen = 0;
    g.maxActive = 0;
    g.zasl = 0;
    g.descrExtSize = 0;
    g.zrwas = 0;
    g.zrwafg = 0;
    g.numzrwa = 0;
    g.rrl = 0;
    g.frl = 0;
  }
  if (g.zoned && g.zrwas !== 0) {
    // QEMU's defaults: the flush granularity is one LBA, and every zone that may be active can
    // hold a ZRWA (no more than there are sequential zones: the default active limit may exceed
    // them on a small namespace, and a default must not be refused).
    if (g.zrwafg === 0) g.zrwafg = g.lbaSize;
    if (g.numzrwa === 0 && Number.isSafeInteger(g.capacity / g.zoneSize)) {
      const seqZones = Math.max(0, g.capacity / g.zoneSize - g.convZones);
      g.numzrwa = g.maxActive !== 0 ? Math.min(g.maxActive, seqZones) : seqZones;
    }
  }
  validateGeometry(g);
  return g;
}

function isPow2(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

function needInt(field: keyof Geometry, v: unknown, min = 0): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw new GeometryError(field, `${field} must be an integer ≥ ${min}, got ${String(v)}`);
  }
  return v;
}

export function validateGeometry(g: Geometry): void {
  const lba = needInt('lbaSize', g.lbaSize, 1);
  if (!isPow2(lba) || lba < 512 || lba > 65536) {
    throw new GeometryError('lbaSize', `LBA size must be a power of two from 512 to 65536, got ${lba}`);
  }
  const cap = needInt('capacity', g.capacity, 1);
  if (cap % lba !== 0) {
    throw new GeometryError('capacity', `capacity ${cap} is not a multiple of the LBA size ${lba}`);
  }
  if (typeof g.zoned !== 'boolean') throw new GeometryError('zoned', 'zoned must be true or false');
  if (typeof g.crossRead !== 'boolean') throw new GeometryError('crossRead', 'crossRead must be true or false');
  if (typeof g.autoTransition !== 'boolean') {
    throw new GeometryError('autoTransition', 'autoTransition must be true or false');
  }
  if (!g.zoned) return;

  const zs = needInt('zoneSize', g.zoneSize, 1);
  if (zs % lba !== 0) {
    throw new GeometryError('zoneSize', `zone size ${zs} is not a multiple of the LBA size ${lba}`);
  }
  if (cap % zs !== 0) {
    throw new GeometryError('capacity', `capacity ${cap} is not a multiple of the zone size ${zs}`);
  }
  const zc = needInt('zoneCapacity', g.zoneCapacity, 1);
  if (zc % lba !== 0) {
    throw new GeometryError('zoneCapacity', `zone capacity ${zc} is not a multiple of the LBA size ${lba}`);
  }
  if (zc > zs) {
    throw new GeometryError('zoneCapacity', `zone capacity ${zc} exceeds the zone size ${zs}`);
  }
  const nrZones = cap / zs;
  if (nrZones > MAX_ZONES) {
    throw new GeometryError('zoneSize', `${nrZones} zones is too many: at most ${MAX_ZONES} (use larger zones or a smaller capacity)`);
  }
  const conv = needInt('convZones', g.convZones);
  if (conv > nrZones) {
    throw new GeometryError('convZones', `${conv} conventional zones requested but the namespace has only ${nrZones} zones`);
  }
  const mo = needInt('maxOpen', g.maxOpen);
  const ma = needInt('maxActive', g.maxActive);
  if (ma !== 0 && (mo === 0 || mo > ma)) {
    throw new GeometryError('maxOpen', `max open zones (${mo === 0 ? 'unlimited' : mo}) exceeds max active zones (${ma})`);
  }
  const zasl = needInt('zasl', g.zasl);
  if (zasl % lba !== 0) {
    throw new GeometryError('zasl', `zone append size limit ${zasl} is not a multiple of the LBA size ${lba}`);
  }
  const de = needInt('descrExtSize', g.descrExtSize);
  if (de % 64 !== 0 || de > MAX_DESCR_EXT_SIZE) {
    throw new GeometryError('descrExtSize', `descriptor extension size must be a multiple of 64 up to ${MAX_DESCR_EXT_SIZE}, got ${de}`);
  }
  if (g.zoneModel !== 'host-managed' && g.zoneModel !== 'host-aware') {
    throw new GeometryError('zoneModel', `zone model must be host-managed or host-aware, got ${String(g.zoneModel)}`);
  }
  validateZrwa(g, nrZones - conv);
  for (const f of ['rrl', 'frl'] as const) {
    const v = needInt(f, g[f]);
    if (v > 0xffffffff) throw new GeometryError(f, `${f} must fit in 32 bits (seconds), got ${v}`);
  }
}

/** ZRWA geometry, with QEMU's constraints (hw/nvme/ns.c) plus the ones a zone imposes. */
function validateZrwa(g: Geometry, seqZones: number): void {
  const lba = g.lbaSize;
  const zrwas = needInt('zrwas', g.zrwas);
  const fg = needInt('zrwafg', g.zrwafg);
  const num = needInt('numzrwa', g.numzrwa);
  if (zrwas === 0) {
    if (fg !== 0) throw new GeometryError('zrwafg', 'a ZRWA flush granularity needs a ZRWA size (--zrwas)');
    if (num !== 0) throw new GeometryError('numzrwa', 'ZRWA resources need a ZRWA size (--zrwas)');
    return;
  }
  if (zrwas % lba !== 0) {
    throw new GeometryError('zrwas', `ZRWA size ${zrwas} is not a multiple of the LBA size ${lba}`);
  }
  if (fg === 0 || fg % lba !== 0) {
    throw new GeometryError('zrwafg', `ZRWA flush granularity ${fg} is not a positive multiple of the LBA size ${lba}`);
  }
  if (zrwas % fg !== 0) {
    throw new GeometryError('zrwafg', `ZRWA flush granularity ${fg} does not divide the ZRWA size ${zrwas}`);
  }
  if (zrwas > g.zoneCapacity) {
    throw new GeometryError('zrwas', `ZRWA size ${zrwas} exceeds the zone capacity ${g.zoneCapacity}`);
  }
  if (zrwas / lba > 0xffff) {
    throw new GeometryError('zrwas', `ZRWA size ${zrwas} is more than 65535 LBAs (the ZRWAS field is 16 bits)`);
  }
  if (g.zoneModel !== 'host-managed') {
    throw new GeometryError('zrwas', 'a ZRWA needs host-managed (sequential write required) zones');
  }
  if (num < 1) throw new GeometryError('numzrwa', `ZRWA resources must be at least 1, got ${num}`);
  if (g.maxActive !== 0 && num > g.maxActive) {
    throw new GeometryError('numzrwa', `ZRWA resources (${num}) exceed max active zones (${g.maxActive})`);
  }
  if (num > seqZones) {
    throw new GeometryError('numzrwa', `ZRWA resources (${num}) exceed the number of sequential zones (${seqZones})`);
  }
}

/** The fields that define a namespace's layout; reopening with other values is refused. */
export const GEOMETRY_FIELDS: readonly (keyof Geometry)[] = [
  'lbaSize', 'capacity', 'zoned', 'zoneSize', 'zoneCapacity', 'convZones', 'maxOpen', 'maxActive',
  'zasl', 'descrExtSize', 'crossRead', 'zoneModel', 'autoTransition', 'zrwas', 'zrwafg', 'numzrwa', 'rrl', 'frl',
];
