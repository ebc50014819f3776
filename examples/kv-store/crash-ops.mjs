/**
 * The operations of the kv store's crash-test workload, the same sequence for the workload and
 * for the check (which needs to know what each acknowledged operation wrote): puts and deletes
 * of a few hot keys, values of 100..12000 bytes that name their key and operation.
 */
export function crashOps(seed, count) {
  let a = seed >>> 0;
  const rnd = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const ops = [];
  for (let i = 0; i < count; i++) {
    const key = `key-${Math.floor(rnd() * 6)}`;
    if (rnd() < 0.2) {
      ops.push({ key, value: null });
      continue;
    }
    const len = 100 + Math.floor(rnd() * 11900);
    const head = `${key}#${i}:`;
    ops.push({ key, value: head + String.fromCharCode(97 + (i % 26)).repeat(Math.max(0, len - head.length)) });
  }
  return ops;
}

/** `--ops N --seed S` from argv (defaults 40 and 1). */
export function crashArgs(argv) {
  const get = (name, dflt) => {
    const i = argv.indexOf(name);
    return i >= 0 ? Number(argv[i + 1]) : dflt;
  };
  return { ops: get('--ops', 40), seed: get('--seed', 1), buggy: argv.includes('--buggy') };
}
