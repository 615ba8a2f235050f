/**
 * Axis arithmetic for the report's charts (docs/stress-tests.md §10.2): a domain widened to round
 * tick values, a linear map from data to pixels, and tick labels without float noise.
 */
import { niceStep } from "../latency-histogram.ts";

export interface Ticks {
  /** The widened domain: a multiple of `step` at each end. */
  min: number;
  max: number;
  step: number;
  values: number[];
}

/** About `count` round ticks covering [lo, hi] (a zero-width range is widened by 1 around it). */
export function niceTicks(lo: number, hi: number, count = 5): Ticks {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) throw new RangeError(`niceTicks: the range must be finite, got ${lo}..${hi}`);
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) {
    hi = lo + 1;
    if (lo > 0) lo = Math.max(0, lo - 1);
  }
  const step = niceStep((hi - lo) / Math.max(1, count));
  const min = Math.floor(lo / step + 1e-9) * step;
  const max = Math.ceil(hi / step - 1e-9) * step;
  const values: number[] = [];
  for (let i = 0; min + i * step <= max + step * 1e-9; i++) values.push(clean(min + i * step));
  return { min: clean(min), max: clean(max), step, values };
}

/** Maps [d0, d1] onto [r0, r1] linearly (a zero-width domain maps everything to r0). */
export function linearScale(d0: number, d1: number, r0: number, r1: number): (v: number) => number {
  const span = d1 - d0;
  return (v) => (span === 0 ? r0 : r0 + ((v - d0) / span) * (r1 - r0));
}

/** A tick value as text with as many decimals as the step needs (0.25 -> "0.25", 20 -> "20"). */
export function formatTick(v: number, step: number): string {
  const text = String(clean(step));
  const dot = text.indexOf(".");
  return clean(v).toFixed(dot < 0 || text.includes("e") ? 0 : Math.min(6, text.length - dot - 1));
}

/** Pixel coordinate with at most 2 decimals (short, stable SVG). */
export function px(v: number): string {
  return String(Math.round(v * 100) / 100);
}

function clean(v: number): number {
  return Math.round(v * 1e9) / 1e9;
}
