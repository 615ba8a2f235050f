/**
 * One provider x config run as the HTML report sees it (docs/stress-tests.md §10.1), made either
 * from a result of this process or from a line of an earlier run's `--json` output, so that a
 * report can put runs of different sittings side by side (`--compare`). A JSON line is checked
 * field by field: a bad file is refused, naming the file, the line and the field, before any
 * work starts.
 */
import { DuroxideError } from "../../core/errors.ts";
import { configLabel } from "../config.ts";
import type { LatencyHistogram } from "../latency-histogram.ts";
import type { LatencySummary } from "../metrics.ts";
import { runTimelineOf, type RunTimeline } from "../run-timeline.ts";
import type { StressTestResult } from "../scenario-parallel.ts";

/** The figures of a run the report shows. */
export interface ReportRun {
  provider: string;
  /** orch/worker slots, e.g. "1/1". */
  configLabel: string;
  /** Where an earlier run came from (e.g. "prev.jsonl 2026-12-03 13:46"); null for this run's. */
  source: string | null;
  completed: number;
  failed: number;
  successRate: number;
  orchThroughput: number;
  activityThroughput: number;
  latency: Pick<LatencySummary, "p50Ms" | "p95Ms" | "p99Ms" | "meanMs" | "maxMs">;
  peakRssMb: number;
  cpuPercent: number;
  rssTimelineMb: number[];
  /** Absent in JSON written before the timeline was recorded: those charts then say "no data". */
  timeline: RunTimeline | null;
  latencyHistogram: LatencyHistogram | null;
  /** The launch window, s (the time charts mark its end): the duration, or how long a fixed count took to launch. */
  durationSecs: number;
  /** Worker ceiling 1000·N·W/(T·d), orch/s (docs/stress-tests.md §5.2); null when there is none. */
  ceilingOrchPerSec: number | null;
}

/** A report input (a `--compare` file) that cannot be read as `--json` output. */
export class ReportInputError extends DuroxideError {
  override name = "ReportInputError";
}

/** The label of a run in legends and tables: "File SQLite 2/2", plus its source for an earlier run. */
export function runLabel(r: Pick<ReportRun, "provider" | "configLabel" | "source">): string {
  return `${r.provider} ${r.configLabel}${r.source === null ? "" : ` (${r.source})`}`;
}

/**
 * How long a run of a fixed count (`--instances`) launched: its launch window, since its config's
 * duration was never used.
 */
function launchedForSecs(r: { totalTimeMs: number; drainTimeMs: number }): number {
  return (r.totalTimeMs - r.drainTimeMs) / 1000;
}

/** A run of this process. `ceiling` is the run's worker ceiling (Infinity or null: none). */
export function reportRunFromResult(r: StressTestResult, ceiling: number | null): ReportRun {
  return {
    provider: r.name,
    configLabel: configLabel(r.config),
    source: null,
    completed: r.completed,
    failed: r.failed,
    successRate: r.successRate,
    orchThroughput: r.orchThroughput,
    activityThroughput: r.activityThroughput,
    latency: r.latency,
    peakRssMb: r.peakRssMb,
    cpuPercent: r.cpuPercent,
    rssTimelineMb: r.rssTimelineMb,
    timeline: runTimelineOf(r.timeline),
    latencyHistogram: r.latencyHistogram,
    durationSecs: r.launchLimit === null ? r.config.durationSecs : launchedForSecs(r),
    ceilingOrchPerSec: ceiling !== null && Number.isFinite(ceiling) ? ceiling : null,
  };
}

/**
 * The runs in `text`, the stdout of `parallel_orchestrations.ts --json` (one JSON object a line;
 * blank lines are skipped). `file` names the input in errors and in each run's source.
 */
export function parseRunsJson(text: string, file: string): ReportRun[] {
  const runs: ReportRun[] = [];
  const lines = text.split("\n");
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    const where = `${file}:${i + 1}`;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (err) {
      throw new ReportInputError(`${where}: not a JSON line of --json output (${(err as Error).message})`);
    }
    // --json ends with the run's verdict ({"verdict": ...}, docs/stress-tests.md §9.4): not a run.
    if (typeof row === "object" && row !== null && "verdict" in row && !("provider" in row)) return;
    runs.push(runFromRow(row, where, file));
  });
  if (runs.length === 0) throw new ReportInputError(`${file}: no runs in it (expected the output of parallel_orchestrations.ts --json: one JSON line per run)`);
  return runs;
}

function runFromRow(row: unknown, where: string, file: string): ReportRun {
  const o = object(row, where, "the line");
  const provider = str(o.provider, where, "provider");
  const label = str(o.config_label, where, "config_label");
  const latency = object(o.latency, where, "latency");
  const config = object(o.config, where, "config");
  const timestamp = typeof o.timestamp === "string" ? o.timestamp.slice(0, 16).replace("T", " ") : null;
  const ceiling = o.ceiling_orch_per_sec;
  if (ceiling !== null && ceiling !== undefined && !isNum(ceiling)) throw bad(where, "ceiling_orch_per_sec", "a number or null", ceiling);
  return {
    provider,
    configLabel: label,
    source: timestamp === null ? file : `${file} ${timestamp}`,
    completed: num(o.completed, where, "completed"),
    failed: num(o.failed, where, "failed"),
    successRate: num(o.successRate, where, "successRate"),
    orchThroughput: num(o.orchThroughput, where, "orchThroughput"),
    activityThroughput: num(o.activityThroughput, where, "activityThroughput"),
    latency: {
      p50Ms: num(latency.p50Ms, where, "latency.p50Ms"),
      p95Ms: num(latency.p95Ms, where, "latency.p95Ms"),
      p99Ms: num(latency.p99Ms, where, "latency.p99Ms"),
      meanMs: num(latency.meanMs, where, "latency.meanMs"),
      maxMs: num(latency.maxMs, where, "latency.maxMs"),
    },
    peakRssMb: num(o.peakRssMb, where, "peakRssMb"),
    cpuPercent: num(o.cpuPercent, where, "cpuPercent"),
    rssTimelineMb: numArray(o.rssTimelineMb ?? [], where, "rssTimelineMb"),
    timeline: o.timeline === undefined ? null : timelineOf(o.timeline, where),
    latencyHistogram: o.latencyHistogram === undefined ? null : histogramOf(o.latencyHistogram, where),
    // Rows written before launchLimit existed have none (and may lack the times): a launch window.
    durationSecs:
      o.launchLimit === undefined || o.launchLimit === null
        ? num(config.durationSecs, where, "config.durationSecs")
        : launchedForSecs({ totalTimeMs: num(o.totalTimeMs, where, "totalTimeMs"), drainTimeMs: num(o.drainTimeMs, where, "drainTimeMs") }),
    ceilingOrchPerSec: isNum(ceiling) ? ceiling : null,
  };
}

/** A `--json` row's timeline: the per-second array of `result.timeline` (docs/stress-tests.md §9.1). */
function timelineOf(v: unknown, where: string): RunTimeline {
  if (!Array.isArray(v)) throw bad(where, "timeline", "an array of seconds", v);
  return runTimelineOf(
    v.map((x, i) => {
      const s = object(x, where, `timeline[${i}]`);
      return {
        second: i,
        phase: "launching",
        spanMs: num(s.spanMs, where, `timeline[${i}].spanMs`),
        launched: num(s.launched, where, `timeline[${i}].launched`),
        completed: num(s.completed, where, `timeline[${i}].completed`),
        failed: num(s.failed, where, `timeline[${i}].failed`),
        inFlight: num(s.inFlight, where, `timeline[${i}].inFlight`),
        latencyP50Ms: null,
        latencyMaxMs: null,
        rssMb: null,
      };
    }),
  );
}

function histogramOf(v: unknown, where: string): LatencyHistogram {
  const h = object(v, where, "latencyHistogram");
  const binMs = num(h.binMs, where, "latencyHistogram.binMs");
  if (!(binMs > 0)) throw bad(where, "latencyHistogram.binMs", "a number > 0", binMs);
  return { fromMs: num(h.fromMs, where, "latencyHistogram.fromMs"), binMs, counts: numArray(h.counts, where, "latencyHistogram.counts") };
}

function isNum(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

function bad(where: string, field: string, want: string, got: unknown): ReportInputError {
  const shown = JSON.stringify(got) ?? String(got);
  return new ReportInputError(`${where}: ${field} must be ${want}, got ${shown.length > 60 ? `${shown.slice(0, 60)}...` : shown}`);
}

function object(v: unknown, where: string, field: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw bad(where, field, "an object", v);
  return v as Record<string, unknown>;
}

function str(v: unknown, where: string, field: string): string {
  if (typeof v !== "string" || v === "") throw bad(where, field, "a non-empty string", v);
  return v;
}

function num(v: unknown, where: string, field: string): number {
  if (!isNum(v)) throw bad(where, field, "a finite number", v);
  return v;
}

function numArray(v: unknown, where: string, field: string): number[] {
  if (!Array.isArray(v) || !v.every(isNum)) throw bad(where, field, "an array of numbers", v);
  return v;
}
