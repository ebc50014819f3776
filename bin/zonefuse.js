#!/usr/bin/env node
// Entry point of the zonefuse CLI; the code lives in dist/ (run `npm run build` first).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write('zonefuse: not built yet: run `npm run build` in the checkout\n');
  process.exit(1);
}
const { run } = await import(main.href);
await run(process.argv);
