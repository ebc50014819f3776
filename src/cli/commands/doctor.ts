/**
 * `zonefuse doctor`: one line per thing zonefuse needs from this machine (ok, or missing and
 * how to get it), then a verdict. Exits non-zero when the default mount (`zonefuse mount MNT`)
 * would fail; what only other backends or `zonefuse exec` need is reported without failing.
 */
import { BACKEND_REQUIREMENTS, DEFAULT_BACKEND } from '../../fuse/requirements.js';
import { EXEC_TOOL_REQUIREMENTS, KOFFI_REQUIREMENT } from '../../native/requirements.js';
import { kernelFuseInfo } from '../../system/kernel-init-probe.js';
import { CheckResult, Requirement, checkRequirement, formatCheck, requirementKey } from '../../system/requirements.js';
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
    { reqs: EXEC_TOOL_REQUIREMENTS, needed: false },
  ];
}

export async function doctorCommand(flags: { probe: boolean }): Promise<void> {
  const kernel = await kernelFuseInfo({ probe: flags.probe });
  const seen = new Set<string>();
  const failedNeeded: CheckResult[] = [];
  let failedOther = 0;
  const out: string[] = [];
  for (const g of groups()) {
    for (const r of g.reqs) {
      const key = requirementKey(r);
      if (seen.has(key)) continue;
      seen.add(key);
      const res = await checkRequirement(r, kernel);
      out.push(formatCheck(res));
      if (!res.ok) {
        if (g.needed) failedNeeded.push(res);
        else failedOther++;
      }
    }
  }
  const others = failedOther ? `; ${failedOther} optional item${failedOther > 1 ? 's' : ''} missing` : '';
  out.push(
    failedNeeded.length === 0
      ? `zonefuse doctor: the default mount (${DEFAULT_BACKEND}) will work${others}`
      : `zonefuse doctor: the default mount (${DEFAULT_BACKEND}) would fail: ${failedNeeded.map((r) => r.subject).join(', ')} missing${others}`,
  );
  process.stdout.write(out.join('\n') + '\n');
  if (failedNeeded.length) process.exitCode = 1;
}
