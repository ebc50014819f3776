import { Command } from 'commander';

export function buildProgram(): Command {
  const program = new Command('zonefuse');
  program.description('Emulated NVMe zoned namespaces (ZNS) over FUSE, with persistent zone state');
  return program;
}

export async function run(argv: string[]): Promise<void> {
  await buildProgram().parseAsync(argv);
}
