/**
 * The device's clock: wall time plus what `clock +SECONDS` added (the header's clock_offset),
 * never running backwards within one open, so the engine's timer lists stay sorted even if the
 * host's clock steps back.
 */
import { Header } from './format.js';

export function deviceClock(header: Header): () => number {
  let last = 0;
  return () => {
    const t = Date.now() + header.clockOffset;
    if (t > last) last = t;
    return last;
  };
}
