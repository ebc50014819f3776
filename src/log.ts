/**
 * Logging: pino JSON lines on stderr, or readable lines when stderr is a terminal.
 * Library code takes a Logger so that embedders can pass their own (or the silent one).
 */
import pino from 'pino';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export type Logger = pino.Logger;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function createLogger(level: LogLevel = 'info', opts: { pretty?: boolean } = {}): Logger {
  const usePretty = opts.pretty ?? process.stderr.isTTY === true;
  if (usePretty) {
    // Synchronous pretty stream: no worker thread, and lines are not lost when we exit.
    // Loaded only for a terminal: it is the slowest import of the CLI.
    const pretty = require('pino-pretty') as typeof import('pino-pretty');
    const stream = pretty({ destination: 2, sync: true, colorize: true, ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l' });
    return pino({ level, base: undefined }, stream);
  }
  return pino({ level, base: { pid: process.pid } }, pino.destination({ dest: 2, sync: true }));
}

export const silentLogger: Logger = pino({ level: 'silent' });
