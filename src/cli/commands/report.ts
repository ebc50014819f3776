import { StoredNamespace } from '../../store/stored-namespace.js';
import { ReportFilter, isRejection } from '../../engine/namespace.js';
import { describeRejection } from '../../engine/status.js';
import { ReportFormat, formatReport, reportBuffer } from '../../format/report.js';
import { formatOcssdReport } from '../../format/ocssd.js';
import { resolveTarget, pickNamespace, CliError } from '../target.js';

export interface ReportFlags {
  ns?: string;
  format: ReportFormat | 'ocssd';
  filter: ReportFilter;
  from: number;
  count?: number;
  partial?: boolean;
}

/** Reads the sidecar directly (read-only): every change a daemon makes is written through. */
export function reportCommand(target: string, flags: ReportFlags): void {
  const t = resolveTarget(target);
  const name = pickNamespace(t.storeDir, flags.ns);
  const ns = StoredNamespace.open(t.storeDir, name, { readOnly: true });
  try {
    const e = ns.engine;
    if (!e.zoned) throw new CliError(`namespace ${name} is not zoned`);
    if (flags.format === 'ocssd') {
      if (flags.filter !== 'all' || flags.from !== 0 || flags.count !== undefined) {
        throw new CliError('--format ocssd reports every chunk: --filter, --from and --count do not apply');
      }
      process.stdout.write(formatOcssdReport(e));
      return;
    }
    if (flags.format !== 'nvme' && flags.filter === 'all' && flags.from === 0 && flags.count === undefined) {
      // The whole namespace: formatted straight from the engine (fast for 100k+ zones).
      process.stdout.write(reportBuffer(e, flags.format));
      return;
    }
    const rep = e.report({ slba: flags.from, filter: flags.filter, max: flags.count ?? Infinity, partial: flags.partial === true });
    if (isRejection(rep)) throw new CliError(describeRejection(rep));
    process.stdout.write(formatReport(flags.format, rep.zones, rep.nrZones, e.lbaSize));
  } finally {
    ns.close();
  }
}
