/**
 * How zone states look, in one place for the terminal map and the web view: each state's name,
 * its ASCII glyph (plain output), its terminal colours and its web colours. The web page gets
 * this table from the view server, so the two never drift.
 */
import { ZoneState } from '../engine/zone.js';

export interface StateStyle {
  state: ZoneState;
  /** The name reports use (report.json, nvme-cli). */
  key: string;
  /** For people: the legend. */
  label: string;
  /** Plain output: one ASCII character per state. */
  glyph: string;
  /** 16-colour terminals: SGR foreground code. */
  ansi16: number;
  /** 256-colour terminals: the state's colour and a dim version for the unwritten part of a cell. */
  ansi256: number;
  ansi256Dim: number;
  /** Web: the state's colour (written part of a zone) and its tint (the part above the write pointer). */
  color: string;
  tint: string;
}

/** Page background of the web view; tints are the state colour blended into it. */
export const WEB_BACKGROUND = '#ffffff';

function hexRgb(hex: string): [number, number, number] {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** `amount` of `color` over `base` (both #rrggbb). */
export function blend(color: string, base: string, amount: number): string {
  const c = hexRgb(color);
  const b = hexRgb(base);
  const mix = c.map((v, i) => Math.round(v * amount + b[i]! * (1 - amount)));
  return '#' + mix.map((v) => v.toString(16).padStart(2, '0')).join('');
}

function style(state: ZoneState, key: string, label: string, glyph: string, ansi16: number, ansi256: number, ansi256Dim: number, color: string): StateStyle {
  return { state, key, label, glyph, ansi16, ansi256, ansi256Dim, color, tint: blend(color, WEB_BACKGROUND, 0.3) };
}

/** In legend order: the life of a sequential zone, then conventional zones, then the faults. */
export const STATE_STYLES: readonly StateStyle[] = [
  style(ZoneState.EMPTY, 'EMPTY', 'empty', '.', 90, 250, 238, '#c7ccd4'),
  style(ZoneState.IMPLICIT_OPEN, 'IMP_OPENED', 'implicitly open', 'o', 32, 41, 22, '#16a34a'),
  style(ZoneState.EXPLICIT_OPEN, 'EXP_OPENED', 'explicitly open', 'O', 36, 45, 24, '#0891b2'),
  style(ZoneState.CLOSED, 'CLOSED', 'closed', 'c', 33, 214, 94, '#d97706'),
  style(ZoneState.FULL, 'FULL', 'full', 'F', 34, 69, 17, '#3b4fd8'),
  style(ZoneState.NOT_WP, 'NOT_WP', 'conventional', '#', 37, 247, 240, '#7b8494'),
  style(ZoneState.READ_ONLY, 'READONLY', 'read only', 'R', 35, 135, 53, '#9333ea'),
  style(ZoneState.OFFLINE, 'OFFLINE', 'offline', 'X', 31, 196, 52, '#dc2626'),
];

const BY_STATE = new Map<number, StateStyle>(STATE_STYLES.map((s) => [s.state, s]));

/** Style of a state byte (an unknown value is drawn as offline: something is wrong with it). */
export function styleOf(state: number): StateStyle {
  return BY_STATE.get(state) ?? BY_STATE.get(ZoneState.OFFLINE)!;
}

/**
 * Which state a group of zones shows when one cell stands for several: the most telling one
 * (a fault, then open, closed, full, empty), so a single offline or open zone never disappears.
 */
const SIGNIFICANCE: Record<number, number> = {
  [ZoneState.OFFLINE]: 7,
  [ZoneState.READ_ONLY]: 6,
  [ZoneState.EXPLICIT_OPEN]: 5,
  [ZoneState.IMPLICIT_OPEN]: 4,
  [ZoneState.CLOSED]: 3,
  [ZoneState.FULL]: 2,
  [ZoneState.EMPTY]: 1,
  [ZoneState.NOT_WP]: 0,
};

export function significance(state: number): number {
  return SIGNIFICANCE[state] ?? 8;
}

/** Said once wherever cells are aggregated. */
export const AGGREGATION_RULE = 'a cell shows the most telling state of its zones (offline > read only > open > closed > full > empty) and their average fill';
