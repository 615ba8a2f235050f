/**
 * The metric primitives behind `runtime.metrics()` (docs/runtime-semantics.md §9): counter,
 * gauge and histogram families, each a set of series, one per label set.
 *
 * Built for the hot path (docs/runtime-semantics.md §9.4): a caller resolves a series once per
 * label set and keeps the object, so recording is one field update (`counter.inc()`) or a short
 * scan over fixed bucket bounds (`histogram.observe(v)`), with no allocation and no string key
 * built per event. Label keys are built only when a series is first resolved.
 */

export type MetricType = "counter" | "gauge" | "histogram";

/**
 * Where a series also reports, when an OpenTelemetry Meter is attached (otel-bridge.ts): the
 * family's OTel instrument and this series' attributes, built once.
 */
export interface SeriesMirror {
  add?(value: number, attributes: Record<string, string>): void;
  record?(value: number, attributes: Record<string, string>): void;
  attributes: Record<string, string>;
}

/** One series of a counter or gauge. */
export class ValueSeries {
  value = 0;
  constructor(
    readonly labelValues: readonly string[],
    private readonly counter: boolean,
    private readonly mirror: SeriesMirror | null = null,
  ) {}

  inc(n = 1): void {
    this.value += n;
    if (this.mirror !== null) this.mirror.add!(n, this.mirror.attributes);
  }

  /** Sets a sampled value; a counter's mirror receives the increase. */
  set(v: number): void {
    const delta = v - this.value;
    this.value = v;
    if (this.counter && delta > 0 && this.mirror !== null) this.mirror.add!(delta, this.mirror.attributes);
  }
}

/** One series of a histogram: counts per bucket (not cumulative; the last is +Inf), sum and count. */
export class HistogramSeries {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labelValues: readonly string[],
    private readonly bounds: readonly number[],
    private readonly mirror: SeriesMirror | null = null,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(v: number): void {
    const b = this.bounds;
    let i = 0;
    // Few buckets (≤ 14): a linear scan beats a binary search and allocates nothing.
    while (i < b.length && v > b[i]!) i++;
    this.counts[i]!++;
    this.sum += v;
    this.count++;
    if (this.mirror !== null) this.mirror.record!(v, this.mirror.attributes);
  }
}

/** Keeps the label values of a series key apart (a value cannot contain it: see `labelKey`). */
const KEY_SEPARATOR = "\u0000";

/** A metric: name, help, label names and its series. */
export class MetricFamily<S extends ValueSeries | HistogramSeries> {
  private readonly series = new Map<string, S>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: MetricType,
    readonly labelNames: readonly string[],
    private readonly make: (labelValues: readonly string[]) => S,
    /** Histogram bucket upper bounds (exclusive of +Inf); empty for counters and gauges. */
    readonly bounds: readonly number[] = [],
  ) {}

  /**
   * The series for these label values (created on first use). Call once per label set and keep
   * the result: this builds a key string.
   */
  with(...labelValues: string[]): S {
    const key = labelValues.length === 1 ? labelValues[0]! : labelValues.map(labelKey).join(KEY_SEPARATOR);
    let s = this.series.get(key);
    if (s === undefined) {
      s = this.make(labelValues);
      this.series.set(key, s);
    }
    return s;
  }

  all(): IterableIterator<S> {
    return this.series.values();
  }

  get size(): number {
    return this.series.size;
  }
}

function labelKey(v: string): string {
  return v.includes(KEY_SEPARATOR) ? v.replaceAll(KEY_SEPARATOR, "\\0") : v;
}

/**
 * Makes the mirror of each new series of a family, when an OTel Meter is attached: called once per
 * family (to create its instrument), then once per series.
 */
export interface MirrorFactory {
  family(name: string, help: string, type: MetricType, labelNames: readonly string[], bounds: readonly number[]): ((labelValues: readonly string[]) => SeriesMirror | null) | null;
}

/** The families of one runtime, in registration order (the order of snapshots and Prometheus text). */
export class MetricRegistry {
  readonly families: MetricFamily<ValueSeries | HistogramSeries>[] = [];

  constructor(private readonly mirrors: MirrorFactory | null = null) {}

  counter(name: string, help: string, labelNames: readonly string[] = []): MetricFamily<ValueSeries> {
    const mirror = this.mirrors?.family(name, help, "counter", labelNames, []) ?? null;
    return this.add(new MetricFamily(name, help, "counter", labelNames, (v) => new ValueSeries(v, true, mirror?.(v) ?? null)));
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): MetricFamily<ValueSeries> {
    // Gauges are observed by the bridge's callback (it reads `value`), so their series need no mirror.
    this.mirrors?.family(name, help, "gauge", labelNames, []);
    return this.add(new MetricFamily(name, help, "gauge", labelNames, (v) => new ValueSeries(v, false)));
  }

  histogram(name: string, help: string, labelNames: readonly string[], bounds: readonly number[]): MetricFamily<HistogramSeries> {
    const mirror = this.mirrors?.family(name, help, "histogram", labelNames, bounds) ?? null;
    return this.add(new MetricFamily(name, help, "histogram", labelNames, (v) => new HistogramSeries(v, bounds, mirror?.(v) ?? null), bounds));
  }

  private add<S extends ValueSeries | HistogramSeries>(f: MetricFamily<S>): MetricFamily<S> {
    this.families.push(f as unknown as MetricFamily<ValueSeries | HistogramSeries>);
    return f;
  }
}

/** The label value that stands for every label set past the cardinality cap. */
export const OVERFLOW_LABEL = "__other__";

/**
 * A bounded cache of per-key series bundles (docs/runtime-semantics.md §9.3): activity and
 * orchestration names and tags are user data, so at most `cap` distinct keys get their own
 * bundle; every later key shares the overflow bundle (labels `__other__`), so unbounded names
 * cannot exhaust memory. Two-level (name, then version or tag) so a lookup builds no string.
 */
export class BoundedBundles<B> {
  private readonly byFirst = new Map<string, Map<string, B>>();
  private count = 0;
  private overflowBundle: B | null = null;
  /** Keys that were folded into the overflow bundle. */
  overflowed = 0;

  constructor(
    private readonly cap: number,
    private readonly make: (first: string, second: string) => B,
  ) {}

  get(first: string, second: string): B {
    let inner = this.byFirst.get(first);
    const hit = inner?.get(second);
    if (hit !== undefined) return hit;
    if (this.count >= this.cap) {
      this.overflowed++;
      return (this.overflowBundle ??= this.make(OVERFLOW_LABEL, OVERFLOW_LABEL));
    }
    if (inner === undefined) this.byFirst.set(first, (inner = new Map()));
    const b = this.make(first, second);
    inner.set(second, b);
    this.count++;
    return b;
  }
}
