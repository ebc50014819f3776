/** The zone engine: a pure model of one zoned namespace. No I/O, no FUSE. */
export * from './geometry.js';
export * from './status.js';
export * from './zone.js';
export * from './namespace.js';
export * from './timers.js';
export * from './zone-list.js';
export * from './loss-policy.js';
