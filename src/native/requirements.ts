/**
 * What the store needs natively: koffi and the libc calls it binds (src/native/libc.ts). Kept
 * apart from libc.ts, which loads koffi as soon as it is imported.
 */
import type { Requirement } from '../system/requirements.js';
import { firstLine } from '../system/requirements.js';
import { reinstallAdvice } from './artifacts.js';

export const KOFFI_REQUIREMENT: Requirement = {
  kind: 'native',
  name: 'koffi',
  usedFor: 'the store (fallocate, lseek, flock)',
  load: async () => {
    const koffi = (await import('koffi')).default;
    koffi.load('libc.so.6');
    return 'loads, and binds libc.so.6';
  },
  explain: (e) => `does not load (${firstLine(e)}): ${reinstallAdvice()}`,
};
