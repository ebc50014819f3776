#!/usr/bin/env node
// Entry point of the zonefuse CLI; the code lives in dist/ (run `npm run build` first).
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// An older Node fails later in obscure ways (koffi, import.meta.dirname): say so in one line.
const { engines } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const [, wantMajor, wantMinor] = /^>=\s*(\d+)\.(\d+)/.exec(engines.node).map(Number);
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < wantMajor || (major === wantMajor && minor < wantMinor)) {
  process.stderr.write(`zonefuse: needs Node.js ${engines.node}, this is ${process.version}: install a newer one (nodejs.org, or NodeSource's nodejs package)\n`);
  process.exit(1);
}

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write('zonefuse: not built yet: run `npm run build` in the checkout\n');
  process.exit(1);
}
const { run } = await import(main.href);
await run(process.argv);
