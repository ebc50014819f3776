import * as fs from 'node:fs';
import { Geometry, resolveGeometry } from '../../engine/geometry.js';
import { Endianness } from '../../store/format.js';
import { createNamespace, listNamespaces, nextNamespaceName } from '../../store/store.js';
import { StoredNamespace } from '../../store/stored-namespace.js';
import { formatInfo, namespaceInfo } from '../../format/info.js';
import { formatCreate } from '../../control/subsystem.js';
import { CliError, checkNamespaceName, resolveTarget } from '../target.js';
import { sendToSubsystem } from './ns.js';

export interface CreateFlags {
  ns?: string;
  size?: number;
  lbaSize?: number;
  zoneSize?: number;
  zoneCapacity?: number;
  convZones?: number;
  maxOpen?: number;
  maxActive?: number;
  zasl?: number;
  descrExtSize?: number;
  zrwas?: number;
  zrwafg?: number;
  numzrwa?: number;
  rrl?: number;
  frl?: number;
  crossRead: boolean;
  zoned: boolean;
  hostAware?: boolean;
  autoTransition: boolean;
  volatileCache?: boolean;
  endianness: Endianness;
}

/** CLI flags → the geometry fields the user actually set. */
export function geometryFromFlags(f: CreateFlags): Partial<Geometry> {
  const g: Partial<Geometry> = {};
  if (f.size !== undefined) g.capacity = f.size;
  if (f.lbaSize !== undefined) g.lbaSize = f.lbaSize;
  if (f.zoneSize !== undefined) g.zoneSize = f.zoneSize;
  if (f.zoneCapacity !== undefined) g.zoneCapacity = f.zoneCapacity;
  if (f.convZones !== undefined) g.convZones = f.convZones;
  if (f.maxOpen !== undefined) g.maxOpen = f.maxOpen;
  if (f.maxActive !== undefined) g.maxActive = f.maxActive;
  if (f.zasl !== undefined) g.zasl = f.zasl;
  if (f.descrExtSize !== undefined) g.descrExtSize = f.descrExtSize;
  if (f.zrwas !== undefined) g.zrwas = f.zrwas;
  if (f.zrwafg !== undefined) g.zrwafg = f.zrwafg;
  if (f.numzrwa !== undefined) g.numzrwa = f.numzrwa;
  if (f.rrl !== undefined) g.rrl = f.rrl;
  if (f.frl !== undefined) g.frl = f.frl;
  if (!f.crossRead) g.crossRead = false;
  if (!f.zoned) g.zoned = false;
  if (f.hostAware) g.zoneModel = 'host-aware';
  if (!f.autoTransition) g.autoTransition = false;
  return g;
}

/** The options that only mean something for a zoned namespace, as the user spelled them. */
function zonedOnlyOptions(f: CreateFlags): string[] {
  const given: Array<[boolean, string]> = [
    [f.zoneSize !== undefined, '--zone-size'], [f.zoneCapacity !== undefined, '--zone-capacity'],
    [f.convZones !== undefined, '--conv-zones'], [f.maxOpen !== undefined, '--max-open'],
    [f.maxActive !== undefined, '--max-active'], [f.zasl !== undefined, '--zasl'],
    [f.descrExtSize !== undefined, '--descr-ext-size'], [f.zrwas !== undefined, '--zrwas'],
    [f.zrwafg !== undefined, '--zrwafg'], [f.numzrwa !== undefined, '--numzrwa'], [f.rrl !== undefined, '--rrl'],
    [f.frl !== undefined, '--frl'], [!f.crossRead, '--no-cross-read'], [f.hostAware === true, '--host-aware'],
    [!f.autoTransition, '--no-auto-transition'],
  ];
  return given.filter(([set]) => set).map(([, name]) => name);
}

export function createCommand(store: string, flags: CreateFlags): void {
  // One validation for both paths (through a mounted store's ctl, or straight into the store),
  // before either is taken: the name, the geometry, a name already in use.
  if (flags.ns !== undefined) checkNamespaceName(flags.ns);
  const zonedOnly = flags.zoned ? [] : zonedOnlyOptions(flags);
  if (zonedOnly.length > 0) {
    throw new CliError(`${zonedOnly.join(', ')} ${zonedOnly.length > 1 ? 'apply' : 'applies'} to zoned namespaces only: not with --no-zoned`);
  }
  const geometry = geometryFromFlags(flags);
  resolveGeometry(geometry);
  const t = resolveTarget(store);
  if (flags.ns !== undefined && fs.existsSync(t.storeDir) && listNamespaces(t.storeDir).includes(flags.ns)) {
    throw new CliError(`namespace ${flags.ns} already exists in store ${t.storeDir}`);
  }
  if (t.mount) {
    // The daemon owns the store: create through the subsystem's ctl, effective at once.
    const name = flags.ns ?? nextNamespaceName(t.storeDir);
    sendToSubsystem(t.mount.mountpoint, formatCreate(name, geometry, flags.volatileCache === true, flags.endianness));
    process.stdout.write(`created namespace ${name} in ${t.storeDir}, attached at ${t.mount.mountpoint}\n`);
    return;
  }
  const dir = t.storeDir;
  const opts = { endianness: flags.endianness, volatileCache: flags.volatileCache === true, ...(flags.ns === undefined ? {} : { name: flags.ns }) };
  const { name } = createNamespace(dir, geometry, opts);
  const ns = StoredNamespace.open(dir, name, { readOnly: true });
  try {
    process.stdout.write(`created namespace ${name} in ${dir}\n`);
    process.stdout.write(formatInfo(namespaceInfo(name, ns.engine).slice(1)));
  } finally {
    ns.close();
  }
}
