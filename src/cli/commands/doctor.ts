/**
 * `zonefuse doctor`: one line per thing zonefuse needs from this machine (ok, or missing and
 * how to get it), then a verdict. Exits non-zero when the default mount (`zonefuse mount MNT`)
 * would fail; what only other backends or `zonefuse exec` need is reported without failing.
 */
import { BACKEND_REQUIREMENTS, DEFAULT_BACKEND } from '../../fuse/requirements.js';
import { KOFFI_REQUIREMENT } from '../../native/requirements.js';
import { EXEC_REQUIREMENTS } from './exec.js';
import { kernelFuseInfo } from '../../system/kernel-init-probe.js';
import { Requirement, checkRequirement, formatCheck, requirementKey } from '../../system/requirements.js';
import { defaultStoreRequirement } from '../precheck.js';

interface Group {
  reqs: readonly Requirement[];
  /** A missing requirement of this group makes the default mount fail. */
  needed: boolean;
}

function groups(): Group[] {
  const others = Object.entries(BACKEND_REQUIREMENTS).filter(([name]) => name !== DEFAULT_BACKEND);
  return [
    { reqs: [...BACKEND_REQUIREMENTS[DEFAULT_BACKEND]!, KOFFI_REQUIREMENT, defaultStoreRequirement()], needed: true },
    ...others.map(([, reqs]) => ({ reqs, needed: false })),
    { reqs: EXEC_REQUIREMENTS, needed: false },
  ];
}

export async function doctorCommand(flags: { probe: boolean }): Promise<void> {
  const kernel = await kernelFuseInfo({ probe: flags.probe });
  const seen = new Set<string>();
  const failedNeeded: string[] = [];
  const failedOther: string[] = [];
  for (const g of groups()) {
    for (const r of g.reqs) {
      const key = requirementKey(r);
      if (seen.has(key)) continue;
      seen.add(key);
      const res = await checkRequirement(r, kernel);
      // Line by line, so that what was checked is on the screen even if a native load crashes.
      process.stdout.write(formatCheck(res) + '\n');
      if (!res.ok) (g.needed ? failedNeeded : failedOther).push(res.subject);
    }
  }
  const others = failedOther.length ? `; also missing: ${failedOther.join(', ')}` : '';
  process.stdout.write(
    failedNeeded.length === 0
      ? `zonefuse doctor: the default mount (${DEFAULT_BACKEND}) will work${others}\n`
      : `zonefuse doctor: the default mount (${DEFAULT_BACKEND}) would fail: ${failedNeeded.join(', ')} missing${others}\n`,
  );
  if (failedNeeded.length) process.exitCode = 1;
}
