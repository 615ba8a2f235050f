/**
 * Measurements for a stress run: per-instance latency percentiles and process resource usage
 * (peak RSS and CPU %, sampled as deltas of process.cpuUsage(), not ps's lifetime average).
 */

export interface LatencySummary {
  /** Mean of the per-instance latencies (start call -> completion observed), ms. */
  meanMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  /** The slowest instance, ms. */
  maxMs: number;
  /** Population standard deviation, ms: with the mean, the coefficient of variation (docs/stress-tests.md §9.3). */
  stdDevMs: number;
  /** How many latencies the summary covers (completed instances). */
  count: number;
}

/** Nearest-rank percentile of an ascending array (`p` in 0..100); 0 for an empty array. */
export function percentile(sortedAsc: readonly number[], p: number): number {
  if (sortedAsc.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sortedAsc.length);
  return sortedAsc[Math.min(Math.max(rank, 1), sortedAsc.length) - 1]!;
}

/** Mean, p50, p95, p99, max and standard deviation of `samples` (ms), rounded to 0.01 ms; all 0 when there are none. */
export function summarizeLatencies(samples: readonly number[]): LatencySummary {
  if (samples.length === 0) return { meanMs: 0, p50Ms: 0, p95Ms: 0, p99Ms: 0, maxMs: 0, stdDevMs: 0, count: 0 };
  const sorted = [...samples].sort((a, b) => a - b);
  let sum = 0;
  for (const s of sorted) sum += s;
  const mean = sum / sorted.length;
  let squares = 0;
  for (const s of sorted) squares += (s - mean) * (s - mean);
  return {
    meanMs: round2(sum / sorted.length),
    p50Ms: round2(percentile(sorted, 50)),
    p95Ms: round2(percentile(sorted, 95)),
    p99Ms: round2(percentile(sorted, 99)),
    maxMs: round2(sorted[sorted.length - 1]!),
    stdDevMs: round2(Math.sqrt(squares / sorted.length)),
    count: sorted.length,
  };
}

export interface ResourceUsage {
  /** Highest resident set size seen, MB (1 MB = 1024·1024 bytes), 2 decimals. */
  peakRssMb: number;
  /** CPU time (user + system) over wall time of the sampled span, in % of one core (>100 = several cores). */
  cpuPercent: number;
  /** RSS samples taken. */
  samples: number;
  /** RSS in MB once per second of the run (index = second), to see growth over a long run. */
  rssTimelineMb: number[];
}

/**
 * Samples RSS every `intervalMs` (default 250) from `start()` to `stop()`, and measures CPU as
 * (cpuUsage delta) / (wall time) over the same span. The timer is unref'd.
 */
export class ResourceSampler {
  private timer: ReturnType<typeof setInterval> | null = null;
  private peakRss = 0;
  private samples = 0;
  private cpuStart: NodeJS.CpuUsage | null = null;
  private wallStart = 0;
  private timeline: number[] = [];

  constructor(private readonly intervalMs = 250) {}

  start(): void {
    this.peakRss = 0;
    this.samples = 0;
    this.timeline = [];
    this.cpuStart = process.cpuUsage();
    this.wallStart = performance.now();
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    (this.timer as { unref?: () => void }).unref?.();
  }

  /** Current peak RSS so far (MB), for progress output. */
  get currentPeakRssMb(): number {
    return round2(this.peakRss / (1024 * 1024));
  }

  stop(): ResourceUsage {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.sample();
    const wallMs = performance.now() - this.wallStart;
    const cpu = process.cpuUsage(this.cpuStart ?? undefined);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    return {
      peakRssMb: round2(this.peakRss / (1024 * 1024)),
      cpuPercent: wallMs > 0 ? round2((cpuMs / wallMs) * 100) : 0,
      samples: this.samples,
      rssTimelineMb: this.timeline.slice(),
    };
  }

  /** Takes one RSS sample now (also called by the runner outside the timer). */
  sample(): void {
    const rss = process.memoryUsage.rss();
    if (rss > this.peakRss) this.peakRss = rss;
    this.samples++;
    const second = Math.floor((performance.now() - this.wallStart) / 1000);
    while (this.timeline.length <= second) this.timeline.push(round2(rss / (1024 * 1024)));
  }
}

export function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
