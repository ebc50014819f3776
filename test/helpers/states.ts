/** Short names for zone states in the engine's table-driven tests. */
import { ZoneState } from '../../src/engine/index.js';

export const E = ZoneState.EMPTY;
export const IO = ZoneState.IMPLICIT_OPEN;
export const EO = ZoneState.EXPLICIT_OPEN;
export const C = ZoneState.CLOSED;
export const F = ZoneState.FULL;
export const RO = ZoneState.READ_ONLY;
export const OFF = ZoneState.OFFLINE;
export const NOT_WP = ZoneState.NOT_WP;
