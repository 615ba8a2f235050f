/**
 * The optional OpenTelemetry hookup (docs/runtime-semantics.md §9.6): every `duroxide_*` family
 * becomes an instrument of a Meter the user passes in (`metrics: { meter }`). The Meter is the
 * `@opentelemetry/api` shape, duck-typed, so this package has no OpenTelemetry dependency.
 *
 * Counters become `createCounter` instruments (`add` with the increase), histograms
 * `createHistogram` (`record` of each observation, with the family's bucket bounds as advice),
 * and gauges `createObservableGauge` (their callback reads the current value and asks the runtime
 * to sample queue depths again for the next collection). Attributes are built once per series.
 */
import { describe } from "../../core/describe.ts";
import { ConfigurationError } from "../../core/errors.ts";
import type { MetricFamily, MetricType, MirrorFactory, SeriesMirror, ValueSeries } from "./instruments.ts";

/** Attributes as OpenTelemetry takes them. */
export type OtelAttributes = Record<string, string>;

export interface OtelCounter {
  add(value: number, attributes?: OtelAttributes): void;
}
export interface OtelHistogram {
  record(value: number, attributes?: OtelAttributes): void;
}
export interface OtelObservableResult {
  observe(value: number, attributes?: OtelAttributes): void;
}
export interface OtelObservableGauge {
  addCallback(callback: (result: OtelObservableResult) => void | Promise<void>): void;
}
export interface OtelInstrumentOptions {
  description?: string;
  unit?: string;
  advice?: { explicitBucketBoundaries?: number[] };
}

/** The part of an `@opentelemetry/api` `Meter` the runtime uses. */
export interface OtelMeter {
  createCounter(name: string, options?: OtelInstrumentOptions): OtelCounter;
  createHistogram(name: string, options?: OtelInstrumentOptions): OtelHistogram;
  createObservableGauge(name: string, options?: OtelInstrumentOptions): OtelObservableGauge;
}

const METER_METHODS = ["createCounter", "createHistogram", "createObservableGauge"] as const;

/** Throws ConfigurationError unless `meter` has the Meter methods the bridge calls. */
export function checkMeter(meter: unknown, what = "metrics.meter"): OtelMeter {
  if (typeof meter !== "object" || meter === null) {
    throw new ConfigurationError(`${what} must be an OpenTelemetry Meter (metrics.getMeter("my-app") from @opentelemetry/api), got ${describe(meter)}`);
  }
  const missing = METER_METHODS.filter((m) => typeof (meter as Record<string, unknown>)[m] !== "function");
  if (missing.length > 0) {
    throw new ConfigurationError(`${what} is not an OpenTelemetry Meter: it lacks ${missing.join(", ")} (pass metrics.getMeter("my-app") from @opentelemetry/api)`);
  }
  return meter as OtelMeter;
}

/**
 * Calls `meter[method](name, options)` and checks it returned an instrument with `needs`: a Meter
 * that throws or returns something else is refused at start (a ConfigurationError naming the
 * instrument), not met later on the hot path (docs/runtime-semantics.md §9.6).
 */
function createInstrument<T>(meter: OtelMeter, method: (typeof METER_METHODS)[number], name: string, options: OtelInstrumentOptions, needs: string): T {
  let made: unknown;
  try {
    made = (meter[method] as (n: string, o: OtelInstrumentOptions) => unknown).call(meter, name, options);
  } catch (err) {
    throw new ConfigurationError(`metrics.meter.${method}("${name}") threw: ${errorText(err)} (pass metrics.getMeter("my-app") from @opentelemetry/api)`);
  }
  if (typeof made !== "object" || made === null || typeof (made as Record<string, unknown>)[needs] !== "function") {
    throw new ConfigurationError(`metrics.meter.${method}("${name}") returned ${describe(made)}, not an instrument with ${needs}() (pass metrics.getMeter("my-app") from @opentelemetry/api)`);
  }
  return made as T;
}

function errorText(err: unknown): string {
  try {
    return err instanceof Error ? err.message : String(err);
  } catch {
    return "(unprintable)";
  }
}

/** Creates one OTel instrument per family and the mirror of each series (instruments.ts). */
export class OtelBridge implements MirrorFactory {
  /** Looks a gauge family up at collection time (set once the registry exists). */
  gaugeFamily: (name: string) => MetricFamily<ValueSeries> | undefined = () => undefined;
  /** Called at each gauge collection, so sampled values are fresh for the next one. */
  onCollect: () => void = () => {};
  private reported = false;

  /**
   * `report` is told, once, when an instrument throws while recording: the value stays in
   * `runtime.metrics()` and the runtime goes on (a broken exporter must not fail a turn's commit
   * or an activity, §9.6).
   */
  constructor(
    private readonly meter: OtelMeter,
    private readonly report: (message: string) => void = () => {},
  ) {}

  private recordingFailed(name: string, err: unknown): void {
    if (this.reported) return;
    this.reported = true;
    this.report(
      `metrics.meter: the instrument of ${name} threw while recording (${errorText(err)}); values stay in runtime.metrics() ` +
        `but are not exported while it fails, and further failures are not reported: check the OpenTelemetry MeterProvider and exporter`,
    );
  }

  family(name: string, help: string, type: MetricType, labelNames: readonly string[], bounds: readonly number[]): ((labelValues: readonly string[]) => SeriesMirror | null) | null {
    const attrs = (values: readonly string[]): OtelAttributes => {
      const a: OtelAttributes = {};
      labelNames.forEach((n, i) => (a[n] = values[i]!));
      return a;
    };
    const unit = name.endsWith("_seconds") ? "s" : undefined;
    const options: OtelInstrumentOptions = { description: help, ...(unit ? { unit } : {}) };
    switch (type) {
      case "counter": {
        const c = createInstrument<OtelCounter>(this.meter, "createCounter", name, options, "add");
        const add = (v: number, a: OtelAttributes) => {
          try {
            c.add(v, a);
          } catch (err) {
            this.recordingFailed(name, err);
          }
        };
        return (values) => ({ add, attributes: attrs(values) });
      }
      case "histogram": {
        const h = createInstrument<OtelHistogram>(this.meter, "createHistogram", name, { ...options, advice: { explicitBucketBoundaries: [...bounds] } }, "record");
        const record = (v: number, a: OtelAttributes) => {
          try {
            h.record(v, a);
          } catch (err) {
            this.recordingFailed(name, err);
          }
        };
        return (values) => ({ record, attributes: attrs(values) });
      }
      case "gauge": {
        const g = createInstrument<OtelObservableGauge>(this.meter, "createObservableGauge", name, options, "addCallback");
        g.addCallback((result) => {
          this.onCollect();
          const f = this.gaugeFamily(name);
          if (f === undefined) return;
          for (const s of f.all()) result.observe(s.value, attrs(s.labelValues));
        });
        return null;
      }
    }
  }
}
