/**
 * The observability options of RuntimeOptions (docs/runtime-semantics.md §9, §10): `metrics`
 * (on by default; `false`, or an object with a Meter and the label-set cap) and `logFormat`.
 * Validated here so options.ts only calls in.
 */
import { describe } from "../core/describe.ts";
import { ConfigurationError } from "../core/errors.ts";
import { LOG_FORMATS, type LogFormat } from "./logging/log-format.ts";
import { checkMeter, type OtelMeter } from "./metrics/otel-bridge.ts";
import { DEFAULT_MAX_LABEL_SETS } from "./metrics/runtime-metrics.ts";

export interface MetricsOptions {
  /** Collect metrics. Default true. */
  enabled?: boolean;
  /** Also report every metric to this OpenTelemetry Meter (`@opentelemetry/api` shape). */
  meter?: OtelMeter;
  /**
   * Distinct (name, version) orchestration and (name, tag) activity label sets kept; later ones
   * are counted under `__other__`. Default 1000, ≥ 1.
   */
  maxLabelSets?: number;
}

export interface ResolvedMetricsOptions {
  enabled: boolean;
  meter: OtelMeter | undefined;
  maxLabelSets: number;
}

const METRICS_KEYS = ["enabled", "meter", "maxLabelSets"];

export function resolveMetricsOption(value: unknown): ResolvedMetricsOptions {
  if (value === undefined || value === true) return { enabled: true, meter: undefined, maxLabelSets: DEFAULT_MAX_LABEL_SETS };
  if (value === false) return { enabled: false, meter: undefined, maxLabelSets: DEFAULT_MAX_LABEL_SETS };
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ConfigurationError(`metrics must be true, false or { enabled?, meter?, maxLabelSets? }, got ${describe(value)}`);
  }
  const v = value as Record<string, unknown>;
  for (const key of Object.keys(v)) {
    if (!METRICS_KEYS.includes(key)) throw new ConfigurationError(`unknown metrics key "${key}" (expected ${METRICS_KEYS.join(", ")})`);
  }
  if (v.enabled !== undefined && typeof v.enabled !== "boolean") throw new ConfigurationError(`metrics.enabled must be a boolean, got ${describe(v.enabled)}`);
  const meter = v.meter === undefined ? undefined : checkMeter(v.meter);
  let maxLabelSets = DEFAULT_MAX_LABEL_SETS;
  if (v.maxLabelSets !== undefined) {
    if (typeof v.maxLabelSets !== "number" || !Number.isSafeInteger(v.maxLabelSets) || v.maxLabelSets < 1) {
      throw new ConfigurationError(`metrics.maxLabelSets must be a positive integer, got ${describe(v.maxLabelSets)}`);
    }
    maxLabelSets = v.maxLabelSets;
  }
  return { enabled: v.enabled ?? true, meter, maxLabelSets };
}

export function resolveLogFormat(value: unknown): LogFormat {
  if (value === undefined) return "pretty";
  if (typeof value !== "string" || !(LOG_FORMATS as readonly string[]).includes(value)) {
    throw new ConfigurationError(`logFormat must be "pretty" or "json", got ${describe(value)}`);
  }
  return value as LogFormat;
}
