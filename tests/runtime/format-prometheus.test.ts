// formatPrometheus (docs/runtime-semantics.md §9.5): the text parses as the Prometheus exposition
// format, every family has HELP and TYPE, label values with quotes, backslashes and newlines
// round-trip, and histograms expand to cumulative buckets, _sum and _count.
import { expect, test } from "bun:test";
import { formatPrometheus, metricValue, ValidationError } from "../../src/index.ts";
import { RuntimeMetrics } from "../../src/runtime/metrics/runtime-metrics.ts";
import type { WorkItemOf } from "../../src/core/work-items.ts";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A strict parser of the text format: throws on any line it does not understand. */
function parsePrometheus(text: string): { help: Map<string, string>; types: Map<string, string>; samples: Sample[] } {
  const help = new Map<string, string>();
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  expect(text.endsWith("\n")).toBe(true);
  for (const line of text.slice(0, -1).split("\n")) {
    let m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (m) {
      help.set(m[1]!, m[2]!);
      continue;
    }
    m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (m) {
      types.set(m[1]!, m[2]!);
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    const body = m[2]?.slice(1, -1) ?? "";
    let i = 0;
    while (i < body.length) {
      const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(body.slice(i));
      if (!lm) throw new Error(`bad label at ${JSON.stringify(body.slice(i))}`);
      i += lm[0].length;
      let value = "";
      for (;;) {
        const c = body[i++];
        if (c === undefined) throw new Error("unterminated label value");
        if (c === '"') break;
        if (c === "\n") throw new Error("raw newline in a label value");
        if (c === "\\") {
          const e = body[i++];
          if (e === "\\") value += "\\";
          else if (e === '"') value += '"';
          else if (e === "n") value += "\n";
          else throw new Error(`bad escape \\${e}`);
        } else value += c;
      }
      labels[lm[1]!] = value;
      if (body[i] === ",") i++;
    }
    const raw = m[3]!;
    const value = raw === "+Inf" ? Infinity : raw === "-Inf" ? -Infinity : Number(raw);
    if (Number.isNaN(value) && raw !== "NaN") throw new Error(`bad value ${raw}`);
    samples.push({ name: m[1]!, labels, value });
  }
  return { help, types, samples };
}

const item = (name: string): WorkItemOf<"ActivityExecute"> => ({ type: "ActivityExecute", instance: "i", execution_id: 1, id: 1, name, input: "null" });

test("formatPrometheus: HELP/TYPE for every family, escaped label values, histogram expansion", () => {
  const m = new RuntimeMetrics({ enabled: true, maxLabelSets: 100 });
  const nasty = 'say "hi"\\now\nnext line';
  m.activityFinished(item(nasty), "success", 3);
  m.activityFinished(item(nasty), "success", 40);
  m.activityFinished(item("Plain"), "app_error", 2_000);
  const snap = m.snapshot();
  const text = formatPrometheus(snap);
  const { help, types, samples } = parsePrometheus(text);

  // Every family of the snapshot is declared once, with its help text.
  for (const f of snap.metrics) {
    expect(types.get(f.name)).toBe(f.type);
    expect(help.get(f.name)).toBe(f.help);
  }
  // Every sample belongs to a declared family (histograms through their suffixes).
  for (const s of samples) {
    const family = s.name.replace(/_(bucket|sum|count)$/, "");
    expect(types.has(s.name) || types.get(family) === "histogram").toBe(true);
  }

  const execs = samples.filter((s) => s.name === "duroxide_activity_executions_total" && s.labels.outcome === "success");
  expect(execs.find((s) => s.labels.activity_name === nasty)?.value).toBe(2);
  expect(text).toContain('activity_name="say \\"hi\\"\\\\now\\nnext line"');

  // Histogram: cumulative buckets ending in +Inf == _count, and _sum in seconds.
  const sel = (s: Sample) => s.labels.activity_name === nasty && s.labels.outcome === "success";
  const buckets = samples.filter((s) => s.name === "duroxide_activity_duration_seconds_bucket" && sel(s));
  expect(buckets.at(-1)!.labels.le).toBe("+Inf");
  for (let i = 1; i < buckets.length; i++) {
    expect(Number(buckets[i - 1]!.labels.le)).toBeLessThan(buckets[i]!.labels.le === "+Inf" ? Infinity : Number(buckets[i]!.labels.le));
    expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value);
  }
  expect(buckets.find((b) => b.labels.le === "0.005")!.value).toBe(1); // 3 ms
  expect(buckets.find((b) => b.labels.le === "0.05")!.value).toBe(2); // and 40 ms
  expect(buckets.at(-1)!.value).toBe(2);
  expect(samples.find((s) => s.name === "duroxide_activity_duration_seconds_count" && sel(s))!.value).toBe(2);
  expect(samples.find((s) => s.name === "duroxide_activity_duration_seconds_sum" && sel(s))!.value).toBeCloseTo(0.043, 6);
  expect(metricValue(snap, "duroxide_activity_executions_total", { activity_name: "Plain", outcome: "app_error" })).toBe(1);
});

test("formatPrometheus: a metrics: false snapshot gives an empty exposition", () => {
  const text = formatPrometheus(new RuntimeMetrics({ enabled: false, maxLabelSets: 1 }).snapshot());
  expect(text).toBe("");
});

test("formatPrometheus refuses what is not a snapshot", () => {
  expect(() => formatPrometheus(null as never)).toThrow(ValidationError);
  expect(() => formatPrometheus({ metrics: "x" } as never)).toThrow(/runtime.metrics\(\)/);
});
