/**
 * Follows every zoned namespace of a mount for the web view, through the mount's files only
 * (zones.bin, errors, events): the view server is a separate process, so nothing here can block
 * the daemon's FUSE requests. Each namespace's zones are reduced to what the page draws (state
 * and fill per zone, a byte each); changes go out as frames holding only the zones that changed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ZoneTable, ZoneTableReader, mountedNamespaces } from '../client/zone-table.js';
import { ZoneState } from '../engine/zone.js';

/**
 * Header poll period: a change reaches the page within this plus the read (changes.bin and the
 * changed groups of records: a few KiB). While zones keep changing (two polls in a row read
 * records), the pause after a poll is at least twice as long as the poll took, so a watcher that
 * must read everything (100,000 zones: 4.9 MB, when a quarter of them changed) leaves the daemon
 * at least two thirds of its time; an isolated change is still seen after one period.
 */
const ZONES_PERIOD_MS = 50;
/** errors/events and the list of namespaces change rarely and cost more to read. */
const LOG_PERIOD_MS = 250;
const LAYOUT_PERIOD_MS = 1000;
/** While the mount does not answer (its daemon died, ENOTCONN), try again this often. */
const FAILED_RETRY_MS = 1000;
/** Newest lines of errors/events sent to the page. */
const LOG_LINES = 40;
/** At most this much of the end of a growing events file is read per poll. */
const LOG_TAIL_BYTES = 64 * 1024;

export interface NamespaceLayout {
  name: string;
  nrZones: number;
  lbaSize: number;
  zoneLbas: number;
  conventionalZones: number;
  maxOpen: number;
  maxActive: number;
  zoneAppendBytes: number;
}

/** A change of one namespace's zones: every zone (`full`) or the listed ones. */
export interface ZonesFrame {
  ns: string;
  generation: string;
  openZones: number;
  activeZones: number;
  full: boolean;
  /** Zone indexes (u32 little-endian) when not full. */
  zones?: Buffer;
  /** One byte per zone listed (or per zone of the namespace when full). */
  states: Buffer;
  /** Written part, 0..255. */
  fills: Buffer;
}

export interface LogFrame {
  ns: string;
  errors: string[];
  /** null: the mount has no events file for this namespace. */
  events: string[] | null;
}

export interface WatcherListener {
  layout(namespaces: NamespaceLayout[]): void;
  zones(frame: ZonesFrame): void;
  log(frame: LogFrame): void;
  /** The mount stopped answering; the watcher keeps trying, and sends a layout when it is back. */
  gone(message: string): void;
}

/** Written part of a zone as a byte; a Full zone is 255, a conventional zone (no write pointer) too. */
function fillByte(t: ZoneTable, z: number): number {
  const s = t.state[z];
  if (s === ZoneState.FULL || s === ZoneState.NOT_WP) return 255;
  const f = t.fill(z);
  return f > 0 ? Math.max(1, Math.round(f * 255)) : 0;
}

class WatchedNamespace {
  readonly reader: ZoneTableReader;
  states = new Uint8Array(0);
  fills = new Uint8Array(0);
  layout: NamespaceLayout | undefined;
  generation = '';
  openZones = 0;
  activeZones = 0;
  errorsText = '';
  eventsText: string | null | undefined;

  constructor(readonly name: string, readonly dir: string) {
    this.reader = new ZoneTableReader(dir);
  }

  /**
   * The frame from the previous picture to table `t` (undefined when nothing the page shows
   * changed); `candidates`: the zones whose records changed (null: look at every zone).
   */
  update(t: ZoneTable, candidates: Uint32Array | null): ZonesFrame | undefined {
    const n = t.nrZones;
    const h = t.header;
    const resized = this.states.length !== n;
    if (resized) {
      this.states = new Uint8Array(n);
      this.fills = new Uint8Array(n);
    }
    const changed: number[] = [];
    const look = (z: number): void => {
      const s = t.state[z]!;
      const f = fillByte(t, z);
      if (resized || s !== this.states[z] || f !== this.fills[z]) {
        this.states[z] = s;
        this.fills[z] = f;
        changed.push(z);
      }
    };
    if (candidates && !resized) for (const z of candidates) look(z);
    else for (let z = 0; z < n; z++) look(z);
    const countsMoved = h.openZones !== this.openZones || h.activeZones !== this.activeZones;
    this.generation = h.generation.toString();
    this.openZones = h.openZones;
    this.activeZones = h.activeZones;
    this.layout = {
      name: this.name, nrZones: n, lbaSize: h.lbaSize, zoneLbas: h.zoneLbas, conventionalZones: h.conventionalZones,
      maxOpen: h.maxOpen, maxActive: h.maxActive, zoneAppendBytes: h.zoneAppendBytes,
    };
    if (!resized && changed.length === 0 && !countsMoved) return undefined;
    // Past an eighth of the zones a whole picture is smaller than a list of indexes.
    if (resized || changed.length > n / 8) return this.fullFrame();
    const zones = Buffer.alloc(4 * changed.length);
    const states = Buffer.alloc(changed.length);
    const fills = Buffer.alloc(changed.length);
    changed.forEach((z, i) => {
      zones.writeUInt32LE(z, 4 * i);
      states[i] = this.states[z]!;
      fills[i] = this.fills[z]!;
    });
    return { ...this.counts(), full: false, zones, states, fills };
  }

  fullFrame(): ZonesFrame {
    return { ...this.counts(), full: true, states: Buffer.from(this.states), fills: Buffer.from(this.fills) };
  }

  private counts(): Pick<ZonesFrame, 'ns' | 'generation' | 'openZones' | 'activeZones'> {
    return { ns: this.name, generation: this.generation, openZones: this.openZones, activeZones: this.activeZones };
  }

  logFrame(): LogFrame {
    return { ns: this.name, errors: lastLines(this.errorsText), events: this.eventsText == null ? null : lastLines(this.eventsText) };
  }
}

function lastLines(text: string): string[] {
  return text.split('\n').filter(Boolean).slice(-LOG_LINES);
}

/** A control file's text, or its last LOG_TAIL_BYTES when it is large; null when it does not exist. */
async function readTail(file: string): Promise<string | null> {
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const { size } = await fh.stat();
    if (size > LOG_TAIL_BYTES) {
      const buf = Buffer.alloc(LOG_TAIL_BYTES);
      const { bytesRead } = await fh.read(buf, 0, LOG_TAIL_BYTES, size - LOG_TAIL_BYTES);
      const text = buf.toString('utf8', 0, bytesRead);
      return text.slice(text.indexOf('\n') + 1);
    }
    // Generated files report size 0: read until the end.
    return (await fh.readFile()).toString('utf8');
  } finally {
    await fh.close().catch(() => undefined);
  }
}

export class DeviceWatcher {
  private readonly namespaces = new Map<string, WatchedNamespace>();
  private readonly listeners = new Set<WatcherListener>();
  private timer: NodeJS.Timeout | undefined;
  private lastLog = 0;
  private lastLayout = 0;
  private busy = false;
  private stopped = false;
  private lastTickMs = 0;
  /** Polls in a row that read records. */
  private readStreak = 0;
  /** Why the last poll failed (the mount stopped answering), until one succeeds again. */
  private failure: string | undefined;

  constructor(readonly mnt: string) {}

  /** Current namespaces (after the first poll). */
  get layout(): NamespaceLayout[] {
    return [...this.namespaces.values()].flatMap((w) => (w.layout ? [w.layout] : []));
  }

  /** The zone table as last read (descriptors on hover). */
  table(ns: string): ZoneTable | undefined {
    return this.namespaces.get(ns)?.reader.current;
  }

  has(ns: string): boolean {
    return this.namespaces.has(ns);
  }

  /** Read everything once; throws when the mount cannot be read. */
  async start(): Promise<void> {
    await this.tick(true);
    if (this.namespaces.size === 0) throw new Error(`${this.mnt} serves no zoned namespace`);
  }

  /** Add a listener and send it the whole picture. Polling runs while anyone listens. */
  subscribe(l: WatcherListener): () => void {
    this.listeners.add(l);
    l.layout(this.layout);
    for (const w of this.namespaces.values()) {
      if (w.layout) l.zones(w.fullFrame());
      if (w.eventsText !== undefined) l.log(w.logFrame());
    }
    if (this.failure !== undefined) l.gone(this.failure);
    this.schedule();
    return () => {
      this.listeners.delete(l);
    };
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.timer || this.stopped || this.listeners.size === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const t0 = performance.now();
      void this.tick(false).then(() => {
        this.lastTickMs = performance.now() - t0;
        if (this.failure !== undefined) {
          this.failure = undefined;
          this.announceLayout();
        }
        this.schedule();
      }, (e: Error) => this.fail(e));
    }, this.failure !== undefined ? FAILED_RETRY_MS : this.readStreak >= 2 ? Math.max(ZONES_PERIOD_MS, 2 * this.lastTickMs) : ZONES_PERIOD_MS);
  }

  private fail(e: Error): void {
    if (e.message !== this.failure) for (const l of this.listeners) l.gone(e.message);
    this.failure = e.message;
    this.lastLayout = 0; // list the namespaces again as soon as the mount answers
    this.schedule();
  }

  private async tick(all: boolean): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const now = Date.now();
      if (all || now - this.lastLayout >= LAYOUT_PERIOD_MS) {
        this.lastLayout = now;
        await this.relist();
      }
      const logs = all || now - this.lastLog >= LOG_PERIOD_MS;
      if (logs) this.lastLog = now;
      let layoutMoved = false;
      let read = false;
      for (const w of [...this.namespaces.values()]) {
        let t: ZoneTable | undefined;
        try {
          t = await w.reader.poll();
        } catch (e) {
          if ((e as { code?: string }).code !== 'ENOENT') throw e;
          // Detached or deleted between two listings.
          this.namespaces.delete(w.name);
          layoutMoved = true;
          continue;
        }
        if (t) {
          read = true;
          const before = w.layout?.nrZones;
          const frame = w.update(t, w.reader.changed);
          if (before !== w.layout?.nrZones) layoutMoved = true;
          else if (frame) for (const l of this.listeners) l.zones(frame);
        }
        if (logs) await this.readLogs(w);
      }
      if (layoutMoved) this.announceLayout();
      this.readStreak = read ? this.readStreak + 1 : 0;
    } finally {
      this.busy = false;
    }
  }

  /** Namespaces attached or detached at run time appear and disappear. */
  private async relist(): Promise<void> {
    let names: string[];
    try {
      names = mountedNamespaces(this.mnt);
    } catch (e) {
      throw new Error(`${this.mnt}: ${(e as NodeJS.ErrnoException).code === 'ENOTCONN' ? 'the mount\'s daemon is not running' : (e as Error).message}`);
    }
    let moved = false;
    for (const name of names) {
      if (this.namespaces.has(name)) continue;
      const w = new WatchedNamespace(name, path.join(this.mnt, `${name}.zones`));
      try {
        const t = await w.reader.poll();
        if (t) w.update(t, null);
      } catch {
        continue; // not readable yet (or not zoned): try at the next listing
      }
      this.namespaces.set(name, w);
      await this.readLogs(w);
      moved = true;
    }
    for (const name of [...this.namespaces.keys()]) {
      if (!names.includes(name)) {
        this.namespaces.delete(name);
        moved = true;
      }
    }
    if (moved && this.listeners.size > 0) this.announceLayout();
  }

  private announceLayout(): void {
    for (const l of this.listeners) {
      l.layout(this.layout);
      for (const w of this.namespaces.values()) {
        l.zones(w.fullFrame());
        l.log(w.logFrame());
      }
    }
  }

  private async readLogs(w: WatchedNamespace): Promise<void> {
    const errors = (await readTail(path.join(w.dir, 'errors')).catch(() => '')) ?? '';
    const events = await readTail(path.join(w.dir, 'events')).catch(() => null);
    if (errors === w.errorsText && events === w.eventsText) return;
    w.errorsText = errors;
    w.eventsText = events;
    const frame = w.logFrame();
    for (const l of this.listeners) l.log(frame);
  }
}
