/**
 * The shape of a run's latency distribution (docs/stress-tests.md §10.1), kept in the result so
 * that the HTML report can draw it (and a later report can draw it from `--json` output) without
 * every per-instance latency: a fixed number of equal bins between the fastest and the slowest
 * instance, on round bin edges.
 */

export interface LatencyHistogram {
  /** Lower edge of the first bin, ms. */
  fromMs: number;
  /** Width of each bin, ms (> 0). */
  binMs: number;
  /** Completed instances per bin: bin i covers [fromMs + i·binMs, fromMs + (i+1)·binMs). */
  counts: number[];
}

/** The smallest step of the form 1, 2, 2.5 or 5 × 10^k that is >= `raw` (round bin widths and axis ticks). */
export function niceStep(raw: number): number {
  if (!(raw > 0) || !Number.isFinite(raw)) return 1;
  const exp = Math.floor(Math.log10(raw));
  const base = 10 ** exp;
  for (const m of [1, 2, 2.5, 5, 10]) if (m * base >= raw * (1 - 1e-9)) return m * base;
  return 10 * base;
}

/** Histogram of `samples` (ms) in about `bins` bins (default 40); no samples gives no bins. */
export function latencyHistogram(samples: readonly number[], bins = 40): LatencyHistogram {
  if (!Number.isSafeInteger(bins) || bins < 1) throw new RangeError(`latencyHistogram: bins must be a positive integer, got ${bins}`);
  if (samples.length === 0) return { fromMs: 0, binMs: 1, counts: [] };
  let min = Infinity;
  let max = -Infinity;
  for (const s of samples) {
    if (s < min) min = s;
    if (s > max) max = s;
  }
  const binMs = niceStep(Math.max(max - min, 0.01) / bins);
  const fromMs = Math.floor(min / binMs) * binMs;
  const n = Math.max(1, Math.floor((max - fromMs) / binMs) + 1);
  const counts = new Array<number>(n).fill(0);
  for (const s of samples) counts[Math.min(n - 1, Math.floor((s - fromMs) / binMs))]!++;
  return { fromMs: round(fromMs), binMs, counts };
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
