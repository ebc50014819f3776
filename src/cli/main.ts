/**
 * The zonefuse command line (PRODUCT.md §7). Each subcommand lives in ./commands; this file
 * only declares them. Failures print one line `zonefuse: …` and exit non-zero.
 */
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { parseCount, parsePort, parseSize } from './args.js';
import { LOG_LEVELS } from '../log.js';
import { REPORT_FORMATS } from '../format/report.js';
import { REPORT_FILTERS } from '../engine/namespace.js';
import { createCommand } from './commands/create.js';
import { umountCommand } from './commands/umount.js';
import { infoCommand } from './commands/info.js';
import { reportCommand } from './commands/report.js';
import { zoneCommand, ZONE_ACTIONS } from './commands/zone.js';
import { checkCommand } from './commands/check.js';
import { crashtestCommand } from './commands/crashtest.js';
import { execCommand, preloadCommand } from './commands/exec.js';
import { loadBackend, precheckMount } from './precheck.js';
import { DEFAULT_BACKEND } from '../fuse/requirements.js';
import { BACKEND_NAMES, loadFuseBackend } from '../fuse/backend.js';
import { nsActionCommand, nsListCommand } from './commands/ns.js';
import {
  cacheCommand, faultAddCommand, faultClearCommand, faultListCommand, faultRandomCommand, faultRecommendCommand, powerCycleCommand,
  zrwaFlushCommand, excursionCommand, clockCommand, eventsCommand,
} from './commands/device.js';

/** The version users installed: package.json beside dist/ (checkout) or in the package. */
const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export function buildProgram(): Command {
  const program = new Command('zonefuse');
  program
    .enablePositionalOptions()
    .description('Emulated NVMe zoned namespaces (ZNS) over FUSE, with persistent zone state')
    .version(PACKAGE_VERSION)
    .configureOutput({ outputError: (str, write) => write(str.startsWith('error:') ? `zonefuse: ${str.slice(7)}` : str) });

  program
    .command('create')
    .description('create a store (directory) with a namespace, or add a namespace to a store')
    .argument('<store>', 'store directory (created if missing)')
    .option('--ns <name>', 'namespace name (default: the next free nvme0nN)')
    .option('--size <bytes>', 'capacity (K/M/G/T suffixes)', parseSize)
    .option('--lba-size <bytes>', 'logical block size: 512 or 4096 (any power of two 512..65536)', parseSize)
    .option('--zone-size <bytes>', 'zone size', parseSize)
    .option('--zone-capacity <bytes>', 'writable bytes per zone (default: the zone size)', parseSize)
    .option('--conv-zones <n>', 'number of leading conventional zones', parseCount)
    .option('--max-open <n>', 'max open zones (0 = unlimited)', parseCount)
    .option('--max-active <n>', 'max active zones (0 = unlimited)', parseCount)
    .option('--zasl <bytes>', 'zone append size limit (0 = no limit)', parseSize)
    .option('--descr-ext-size <bytes>', 'zone descriptor extension size (multiple of 64)', parseSize)
    .option('--zrwas <bytes>', 'Zone Random Write Area size (0 = no ZRWA; a multiple of the LBA size)', parseSize)
    .option('--zrwafg <bytes>', 'ZRWA flush granularity (default: one LBA; divides --zrwas)', parseSize)
    .option('--numzrwa <n>', 'ZRWA resources: zones that may hold a ZRWA at once (default: max active, or the sequential zones if fewer)', parseCount)
    .option('--rrl <seconds>', 'Reset Recommended Limit: the device sets RZR on zones Full this long (0 = never)', parseCount)
    .option('--frl <seconds>', 'Finish Recommended Limit: the device sets FZR on zones active this long (0 = never)', parseCount)
    .option('--no-cross-read', 'refuse reads that cross a zone boundary')
    .option('--no-zoned', 'a plain random-access namespace without zones')
    .option('--host-aware', 'sequential-write-preferred zones (host-aware) instead of sequential-write-required')
    .option('--no-auto-transition', 'never close implicitly opened zones to free an open resource')
    .option('--volatile-cache', 'acknowledge writes before they are durable (a power cycle loses what was not flushed)')
    .addOption(new Option('--endianness <order>', 'byte order of the metadata file').choices(['little', 'big']).default('little'))
    .action(createCommand);

  program
    .command('mount')
    .description('serve a store at a mount point, in the foreground (Ctrl-C or SIGTERM unmounts and saves state)')
    .usage('[options] [store] <mountpoint>')
    .argument('<paths...>', '[store] <mountpoint>: store directory (default: the default store, created on first use) and where to mount (created if missing)')
    .addOption(new Option('--log-level <level>', 'log level').choices([...LOG_LEVELS]).default('info'))
    .option('--no-auto-unmount', 'leave the mount in place if the daemon dies (for debugging; the next mount cleans it up)')
    .option('--allow-other', 'let other users in (file modes decide what they may do); without it the mount is private to you')
    .option('--trace <dir>', 'record every device-level operation of each namespace into DIR until unmounted (what crashtest uses)')
    .option('--trace-limit <bytes>', 'with --trace: stop recording (and mark the trace unusable) past this size', parseSize)
    .addOption(new Option('--fuse <backend>', 'FUSE binding: fuse-native (libfuse 2) or libfuse3 (1 MiB requests, async and parallel direct I/O)')
      .choices([...BACKEND_NAMES]).default(DEFAULT_BACKEND))
    // The cheap checks first (one line naming what is missing); the FUSE binding is loaded on
    // demand, only by mount.
    .action(async (paths: string[], flags) => {
      await precheckMount(flags.fuse, paths.length < 2);
      const { mountCommand } = await import('./commands/mount.js');
      const backend = await loadBackend(flags.fuse, () => loadFuseBackend(flags.fuse));
      await mountCommand(paths, { ...flags, backend });
    });

  program
    .command('umount')
    .alias('unmount')
    .description('unmount a zonefuse mount: its daemon saves state and exits')
    .argument('<mountpoint>')
    .option('--timeout <seconds>', 'how long to wait for the daemon', parseCount, 10)
    .action(umountCommand);

  program
    .command('info')
    .description('show a store: metadata header, geometry, limits and zone counts of each namespace')
    .argument('<target>', 'store directory or mount point')
    .option('--ns <name>', 'only this namespace')
    .addOption(new Option('--format <format>', 'text, or ocssd for the OCSSD 2.0 geometry').choices(['text', 'ocssd']).default('text'))
    .action(infoCommand);

  program
    .command('report')
    .description('report zones (blkzone format by default)')
    .argument('<target>', 'store directory or mount point')
    .option('--ns <name>', 'namespace (needed when the store has several)')
    .addOption(new Option('--format <format>', 'output format (ocssd: OCSSD 2.0 chunk descriptors)').choices([...REPORT_FORMATS, 'ocssd']).default('blkzone'))
    .addOption(new Option('--filter <state>', 'only zones in this state').choices([...REPORT_FILTERS]).default('all'))
    .option('--from <lba>', 'start at the zone holding this LBA', parseCount, 0)
    .option('--count <n>', 'at most this many zones', parseCount)
    .option('--partial', 'nvme format: nr_zones counts only the zones reported')
    .action(reportCommand);

  program
    .command('zone')
    .description('zone management: open, close, finish, reset, and the faults readonly and offline')
    .addArgument(new Command().createArgument('<action>', 'what to do').choices([...ZONE_ACTIONS]))
    .argument('<target>', 'store directory or mount point')
    .argument('<zone>', 'zone index, or "all"')
    .option('--ns <name>', 'namespace (needed when the store has several)')
    .option('--zrwa', 'open: allocate a Zone Random Write Area')
    .action(zoneCommand);

  program
    .command('zrwa-flush')
    .description("commit a zone's Zone Random Write Area up to and including LBA (absolute, or relative to the zone start)")
    .argument('<target>', 'store directory or mount point')
    .argument('<zone>', 'zone index')
    .argument('<lba>', 'last LBA to commit')
    .option('--ns <name>', 'namespace (needed when the store has several)')
    .action(zrwaFlushCommand);

  program
    .command('excursion')
    .description('zone active excursion: the device finishes an active zone by itself (Zone Finished by Controller)')
    .argument('<target>', 'store directory or mount point')
    .argument('<zone>', 'zone index')
    .option('--ns <name>', 'namespace (needed when the store has several)')
    .action(excursionCommand);

  program
    .command('clock')
    .description('advance the device clock, so Reset/Finish Recommended Limits expire without waiting (+SECONDS, or +Nm/+Nh/+Nd)')
    .argument('<target>', 'store directory or mount point')
    .argument('<amount>', 'how far, e.g. +3600 or +2h')
    .option('--ns <name>', 'only this namespace (default: every namespace)')
    .action(clockCommand);

  program
    .command('events')
    .description("the device's own zone changes (RZR/FZR set by the limits, excursions), one line each")
    .argument('<target>', 'store directory or mount point')
    .option('--ns <name>', 'namespace (needed when the store has several)')
    .option('-f, --follow', 'keep printing new events as they happen, like tail -f')
    .action(eventsCommand);

  const ns = program.command('ns').description('namespaces of a store: list, attach, detach, delete (mounted or not; create is `zonefuse create`)');
  ns.command('list')
    .description('every namespace with its state (attached/detached) and geometry')
    .argument('<target>', 'store directory or mount point')
    .action(nsListCommand);
  for (const action of ['attach', 'detach', 'delete'] as const) {
    const c = ns.command(action)
      .description({
        attach: 'bring a detached namespace back into service',
        detach: 'take a namespace out of service; it leaves the mount, its files stay in the store',
        delete: 'delete a namespace and its files (refused while its files are open, unless --force)',
      }[action])
      .argument('<target>', 'store directory or mount point')
      .argument('<name>', 'namespace name');
    if (action === 'delete') c.option('--force', 'delete even while its files are open (they then fail with EIO)');
    c.action((target: string, name: string, flags: { force?: boolean }) => nsActionCommand(action, target, name, flags));
  }

  program
    .command('cache')
    .description('turn the volatile write cache on or off (on: writes are acknowledged before they are durable; fsync makes them durable)')
    .argument('<target>', 'store directory or mount point')
    .addArgument(new Command().createArgument('<state>').choices(['on', 'off']))
    .option('--ns <name>', 'namespace (needed when the store has several)')
    .action(cacheCommand);

  program
    .command('power-cycle')
    .description('simulate a power loss on a mounted device (unflushed writes are lost when the volatile cache is on), or a clean shutdown')
    .argument('<target>', 'mount point or store directory of a mounted store')
    .option('--ns <name>', 'only this namespace (default: every namespace)')
    .option('--shutdown', 'a clean shutdown instead: flush, then the shutdown transitions')
    .option('--keep <policy>', 'what survives of the unflushed writes: none (default), all, or prefix:SEED (per zone a seeded prefix; per conventional LBA the newest write or the old data)')
    .action(powerCycleCommand);

  const fault = program.command('fault').description('inject media faults (persistent): bad LBA ranges, random failures, recommendations');
  fault
    .command('add')
    .description('make reads and/or writes of an LBA range fail with EIO')
    .argument('<target>', 'store directory or mount point')
    .addArgument(new Command().createArgument('<kind>').choices(['read', 'write', 'rw']))
    .argument('<start>', 'first LBA')
    .argument('<count>', 'number of LBAs')
    .option('--once', 'fail once, then heal')
    .option('--partial', 'writes: land the LBAs before the bad one, advance the write pointer, then fail (a torn write)')
    .option('--ns <name>', 'namespace (needed when the store has several)')
    .action(faultAddCommand);
  fault
    .command('random')
    .description('fail one write in WRITES (and one read in READS) at random, reproducibly from SEED')
    .argument('<target>', 'store directory or mount point')
    .argument('<seed>')
    .argument('<writes>', 'one write in this many fails (0 = none)')
    .argument('[reads]', 'one read in this many fails (0 = none)')
    .option('--ns <name>', 'namespace (needed when the store has several)')
    .action(faultRandomCommand);
  fault
    .command('recommend')
    .description('set the Reset or Finish Zone Recommended attribute of a zone')
    .argument('<target>', 'store directory or mount point')
    .addArgument(new Command().createArgument('<which>').choices(['reset', 'finish']))
    .argument('<zone>')
    .option('--off', 'clear it instead')
    .option('--ns <name>', 'namespace (needed when the store has several)')
    .action(faultRecommendCommand);
  fault
    .command('list')
    .description('list every injected fault, as the ctl commands that set them')
    .argument('<target>', 'store directory or mount point')
    .option('--ns <name>', 'namespace (needed when the store has several)')
    .action(faultListCommand);
  fault
    .command('clear')
    .description('remove every injected fault (Read Only and Offline zones come back Empty)')
    .argument('<target>', 'store directory or mount point')
    .option('--ns <name>', 'namespace (needed when the store has several)')
    .action(faultClearCommand);

  program
    .command('crashtest')
    .description('run a workload on a copy of a store with the volatile cache on, then check the FTL\'s recovery on every crash state a power loss could leave')
    .usage('<store> --workload CMD --check CMD [options] | <store> --materialize ID DIR')
    .argument('<store>', 'store directory (never modified: crashtest works on a copy)')
    .argument('[dir]', 'with --materialize: where to build the state')
    .option('--workload <cmd>', 'shell command run once against the mounted copy (env: ZONEFUSE_MNT, ZONEFUSE_NS, ZONEFUSE_STORE)')
    .option('--check <cmd>', 'shell command run against each mounted crash state; exit 0 = consistent (env also: ZONEFUSE_CRASH_STATE, _POINT, _MARK, _FLUSHES)')
    .option('--seed <n>', 'seed of the sampled states (the same seed gives the same states)', parseCount, 1)
    .option('--max-states <n>', 'check at most this many states', parseCount, 500)
    .option('--jobs <n>', 'states checked in parallel (one mount each)', parseCount)
    .option('--time-limit <seconds>', 'start no new check after this long', parseCount)
    .option('--json <path>', 'also write the JSON report here')
    .option('--ns <name>', 'namespace (needed when the store has several)')
    .option('--work <dir>', 'work directory (default: STORE.crashtest beside the store)')
    .option('--trace-limit <bytes>', 'largest trace (records and saved data) the workload may produce', parseSize)
    .option('--check-timeout <seconds>', 'a check running longer fails', parseCount, 120)
    .option('--materialize <id>', 'rebuild crash state ID of the last run as a store in DIR (for debugging)')
    .addOption(new Option('--fuse <backend>', 'FUSE binding of the mounts crashtest makes').choices([...BACKEND_NAMES]))
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))
    .action(crashtestCommand);

  program
    .command('map')
    .description('a map of the zones in the terminal, coloured by state, with the open/active counts and a legend')
    .argument('<target>', 'mount point (or store directory)')
    .option('--ns <name>', 'namespace (needed when the mount serves several)')
    .option('--watch', 'redraw as zones change, until q or Ctrl-C')
    .action(async (target: string, flags) => (await import('./commands/map.js')).mapCommand(target, flags));

  program
    .command('view')
    .description('a live web page of the device (127.0.0.1 only; prints its URL with a secret token first)')
    .argument('<mountpoint>', 'mount point of a running zonefuse mount')
    .option('--port <n>', 'TCP port (default: any free one)', parsePort)
    .action(async (target: string, flags) => (await import('./commands/view.js')).viewCommand(target, flags));

  program
    .command('doctor')
    .description('check what zonefuse needs from this machine, one line each (ok, or missing and the apt package); non-zero if the default mount would fail')
    .option('--no-probe', 'do not read the kernel\'s FUSE INIT request (as root, doctor mounts an empty FUSE file system for a moment to read it)')
    .action(async (flags: { probe: boolean }) => (await import('./commands/doctor.js')).doctorCommand(flags));

  program
    .command('check')
    .description('verify a store offline: headers, records, counters, write pointers, data above write pointers')
    .argument('<store>', 'store directory')
    .option('--repair', 'fix what is safe to fix, and say what was done')
    .action(checkCommand);

  program
    .command('exec')
    .description('run a command with the compatibility library preloaded: to it, namespace files are zoned block devices (blkzone, zbd, fio)')
    .usage('[--] <command> [args...]')
    .argument('<command>', 'the program to run (looked up in PATH)')
    .argument('[args...]', 'its arguments, passed unchanged')
    .helpOption('-h, --help', 'display help for command (put -- before the command to pass -h to it)')
    .passThroughOptions()
    .allowUnknownOption()
    .action(execCommand);

  program
    .command('preload')
    .description('print the path of the compatibility library (for LD_PRELOAD= in scripts)')
    .action(preloadCommand);

  return program;
}

export async function run(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    process.stderr.write(`zonefuse: ${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}
