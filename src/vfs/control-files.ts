/**
 * Per-namespace control files /NAME.zones/{info,report,report.json,ctl,errors,faults}
 * (PRODUCT.md §3): generated at open like procfs, `ctl` takes one command per line.
 */
import { Rejection } from '../engine/status.js';
import { reportBuffer } from '../format/report.js';
import { deviceInfo, formatInfo, namespaceInfo } from '../format/info.js';
import { ControlCommand, CommandSyntaxError, ctlLines, executeCommand, formatCommand, parseCommand } from '../control/commands.js';
import { Owner } from './attr.js';
import { Node } from './node.js';
import { GeneratedFile } from './generated-file.js';
import { MountedNamespace } from './mounted-namespace.js';
import { E } from './errno.js';

export const CONTROL_FILES = ['info', 'report', 'report.json', 'ctl', 'errors', 'faults'] as const;
export type ControlName = (typeof CONTROL_FILES)[number];

export class ControlFile extends GeneratedFile implements Node {
  constructor(owner: Owner, readonly m: MountedNamespace, override readonly name: ControlName) {
    super(owner, name);
  }

  protected mtime(): number {
    return this.m.mtime;
  }

  protected writeCommands(buf: Buffer, len: number): number {
    return writeCtl(this.m, buf, len);
  }

  snapshot(): string | Buffer {
    const m = this.m;
    const e = m.ns.engine;
    switch (this.name) {
      case 'info':
        return formatInfo([...namespaceInfo(m.name, e), ...deviceInfo(m.ns)]);
      case 'faults': {
        const lines = m.ns.listFaults();
        return lines.length ? lines.join('\n') + '\n' : '';
      }
      case 'report':
        return reportBuffer(e, 'blkzone');
      case 'report.json':
        return reportBuffer(e, 'json');
      case 'errors':
        return m.errors.text();
      case 'ctl':
        return '';
    }
  }
}

/**
 * Run the commands of one write to `ctl`. Every line is understood before any runs, so a
 * malformed write changes nothing. If the device refuses line k, the lines before it stay done
 * and the write is short (their bytes); when that is none, the write fails with the errno.
 */
function writeCtl(m: MountedNamespace, buf: Buffer, len: number): number {
  const lines = ctlLines(buf, len);
  if (lines.length === 0) return m.refuse(`ctl: empty command`, E.EINVAL);
  const e = m.ns.engine;
  const cmds: ControlCommand[] = [];
  for (const { line } of lines) {
    let cmd: ControlCommand;
    try {
      cmd = parseCommand(line, e.nrZones, e.nlba);
    } catch (err) {
      if (err instanceof CommandSyntaxError) return m.refuse(`ctl "${line}": ${err.message}`, E.EINVAL);
      throw err;
    }
    if (typeof cmd.zone === 'number' && e.isConventional(cmd.zone)) {
      return m.refuse(`ctl "${line}": zone ${cmd.zone} is conventional`, E.EINVAL);
    }
    cmds.push(cmd);
  }
  for (let i = 0; i < cmds.length; i++) {
    const r = runCommand(m, cmds[i]!, lines[i]!.line);
    if (r < 0) return i === 0 ? r : lines[i - 1]!.end;
  }
  return len;
}

function runCommand(m: MountedNamespace, cmd: ControlCommand, line: string): number {
  let r: Rejection | undefined;
  try {
    r = executeCommand(m.ns, cmd);
  } catch (err) {
    if (err instanceof RangeError) return m.refuse(`ctl "${line}": ${err.message}`, E.EINVAL);
    throw err;
  }
  if (r) return m.rejected(r);
  // Only once the command is done: a refused one changes nothing, staged bytes included.
  dropStagesFor(m, cmd);
  if (cmd.verb === 'power-cycle' || cmd.verb === 'shutdown') {
    m.generation++;
    m.log.warn({ ns: m.name, cmd: cmd.verb }, `${cmd.verb}: open files of ${m.name} now fail with EIO until reopened`);
  }
  const zone = cmd.zone;
  m.touch(typeof zone === 'number' ? zone : -1);
  if (zone === 'all' || zone === undefined) m.zoneMtime.fill(m.mtime);
  m.log.info({ ns: m.name, cmd: formatCommand(cmd) }, `ctl: ${formatCommand(cmd)}`);
  return 0;
}

/** What buffered writers staged but a command makes moot: a reset, a fault, a power event. */
function dropStagesFor(m: MountedNamespace, cmd: ControlCommand): void {
  const v = cmd.verb;
  if (v === 'power-cycle' || v === 'shutdown' || ((v === 'reset' || v === 'offline') && cmd.zone === 'all')) {
    m.stages.clear();
  } else if (typeof cmd.zone === 'number' && v !== 'open' && v !== 'close' && v !== 'recommend') {
    m.stages.dropZone(cmd.zone);
  }
}
