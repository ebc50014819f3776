/**
 * `key: value` descriptions of a namespace: geometry, limits and live zone counts. Used by the
 * `info` control file and by `zonefuse info`.
 */
import { ZonedNamespace } from '../engine/namespace.js';
import { Header, Flag, MAGIC } from '../store/format.js';
import { StoredNamespace } from '../store/stored-namespace.js';
import type { NamespaceEntry } from '../store/store.js';

export type InfoEntry = [key: string, value: string | number];

function yesNo(b: boolean): string {
  return b ? 'yes' : 'no';
}

/** Geometry, limits and current counts of a namespace. */
export function namespaceInfo(name: string, e: ZonedNamespace): InfoEntry[] {
  const g = e.geometry;
  const out: InfoEntry[] = [
    ['namespace', name],
    ['zoned', yesNo(g.zoned)],
    ['lba_size', g.lbaSize],
    ['capacity', g.capacity],
    ['capacity_lbas', e.nlba],
  ];
  if (!g.zoned) return out;
  const c = e.counts();
  out.push(
    ['zone_model', g.zoneModel],
    ['zone_size', g.zoneSize],
    ['zone_size_lbas', e.zoneLbas],
    ['zone_capacity', g.zoneCapacity],
    ['zone_capacity_lbas', e.capLbas],
    ['nr_zones', e.nrZones],
    ['conventional_zones', e.convZones],
    ['max_open_zones', g.maxOpen],
    ['max_active_zones', g.maxActive],
    ['zone_append_size_limit', g.zasl],
    ['descriptor_extension_size', g.descrExtSize],
    ['cross_zone_reads', yesNo(g.crossRead)],
    ['auto_transition', yesNo(g.autoTransition)],
    ['zrwa_size', g.zrwas],
    ['zrwa_size_lbas', e.zrwaLbas],
    ['zrwa_flush_granularity', g.zrwafg],
    ['zrwa_flush_granularity_lbas', e.zrwafgLbas],
    ['zrwa_resources', e.numZrwa],
    ['zrwa_in_use', e.zrwaInUse],
    ['reset_recommended_limit', g.rrl],
    ['finish_recommended_limit', g.frl],
    ['open_zones', c.open],
    ['active_zones', c.active],
    ['empty_zones', c.empty],
    ['implicitly_open_zones', c.implicitOpen],
    ['explicitly_open_zones', c.explicitOpen],
    ['closed_zones', c.closed],
    ['full_zones', c.full],
    ['read_only_zones', c.readOnly],
    ['offline_zones', c.offline],
  );
  return out;
}

/** Sidecar facts, as `qemu-img info` shows image facts. */
/** The sidecar header's identity (magic, version, byte order) and history, for `zonefuse info`. */
export function sidecarInfo(h: Header): InfoEntry[] {
  return [
    // Decoding verified the magic: show it as qemu-img info shows a format, text and bytes.
    ['magic', `${MAGIC.toString('latin1').replace(/\0/g, '\\0')} (${[...MAGIC].map((b) => b.toString(16).padStart(2, '0')).join(' ')})`],
    ['format_version', h.version],
    ['endianness', h.endianness],
    ['uuid', h.uuid],
    ['created', new Date(h.created).toISOString()],
    ['last_opened', h.lastOpened ? new Date(h.lastOpened).toISOString() : 'never'],
    ['mount_count', h.mountCount],
    ['unclean_shutdowns', h.uncleanCount],
    ['clean', yesNo((h.flags & Flag.CLEAN) !== 0)],
  ];
}

export function formatInfo(entries: InfoEntry[]): string {
  return entries.map(([k, v]) => `${k}: ${v}`).join('\n') + '\n';
}

/** Device-level settings of a stored namespace: cache and injected faults. */
export function deviceInfo(ns: StoredNamespace): InfoEntry[] {
  const rnd = ns.faults.random;
  return [
    ['volatile_write_cache', ns.volatileCache ? 'on' : 'off'],
    ['bad_lba_ranges', ns.faults.ranges.length],
    ['random_faults', rnd ? `seed ${rnd.seed}, 1 in ${rnd.writeOneIn} writes, 1 in ${rnd.readOneIn} reads` : 'off'],
    ['device_clock_offset', ns.info.clockOffset / 1000],
  ];
}

/** The subsystem's `info`: one line per namespace with its state and geometry. */
export function formatSubsystemInfo(entries: NamespaceEntry[]): string {
  let out = `namespaces: ${entries.length}\n`;
  for (const { name, attached, header: h } of entries) {
    const g = h.geometry;
    const geo = g.zoned
      ? `zoned lba_size=${g.lbaSize} capacity=${g.capacity} zone_size=${g.zoneSize} zone_capacity=${g.zoneCapacity} ` +
        `zones=${h.nrZones} conv_zones=${g.convZones} max_open=${g.maxOpen} max_active=${g.maxActive}`
      : `not-zoned lba_size=${g.lbaSize} capacity=${g.capacity}`;
    out += `${name}: ${attached ? 'attached' : 'detached'} ${geo}\n`;
  }
  return out;
}
