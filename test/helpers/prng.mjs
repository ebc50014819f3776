// mulberry32: a small seeded PRNG for the tests, so a failing run can be replayed from its seed.
// Plain JavaScript so that worker scripts run by node (no TypeScript) can import it too.
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The recognisable content of a test write: LBA i starts with "ZFCRASH!", the seed and i, then
 * bytes derived from both. The crash worker writes it; the crash test checks it.
 */
export function pattern(seed, nlb, lbaSize) {
  const buf = Buffer.alloc(nlb * lbaSize);
  for (let i = 0; i < nlb; i++) {
    const off = i * lbaSize;
    buf.write('ZFCRASH!', off, 'latin1');
    buf.writeUInt32LE(seed >>> 0, off + 8);
    buf.writeUInt32LE(i, off + 12);
    const rnd = mulberry32((seed ^ Math.imul(i + 1, 0x9e3779b9)) >>> 0);
    for (let p = off + 16; p < off + lbaSize; p += 4) buf.writeUInt32LE((rnd() * 4294967296) >>> 0, p);
  }
  return buf;
}
