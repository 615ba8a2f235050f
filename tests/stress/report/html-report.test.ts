// renderStressReport (src/stress/report/html-report.ts) and the runs it draws (report-run.ts), on hand-made runs.
import { describe, expect, test } from "bun:test";
import { REPORT_FIGURES, renderStressReport, throughputPoints, type StressReportMeta } from "../../../src/stress/report/html-report.ts";
import { parseRunsJson, ReportInputError, runLabel, type ReportRun } from "../../../src/stress/report/report-run.ts";
import { elements } from "./svg-test-helpers.ts";

function run(provider: string, w: number, over: Partial<ReportRun> = {}): ReportRun {
  return {
    provider,
    configLabel: `${w}/${w}`,
    source: null,
    completed: 100 * w,
    failed: 0,
    successRate: 100,
    orchThroughput: 18 * w,
    activityThroughput: 90 * w,
    latency: { p50Ms: 1000 / w, p95Ms: 1100 / w, p99Ms: 1150 / w, meanMs: 1010 / w, maxMs: 1200 / w },
    peakRssMb: 70,
    cpuPercent: 12,
    rssTimelineMb: [60, 65, 70],
    timeline: { launchedPerSec: [20, 18, 0], completedPerSec: [0, 18, 20], failedPerSec: [0, 0, 0], inFlight: [20, 20, 0], totalMs: 2600 },
    latencyHistogram: { fromMs: 900 / w, binMs: 10 / w, counts: [1, 5, 20, 3] },
    durationSecs: 2,
    ceilingOrchPerSec: 20 * w,
    ...over,
  };
}

const meta: StressReportMeta = {
  scenario: "parallel-orchestrations",
  config: "max_concurrent=20 duration=2s orch/worker=1/1,2/2",
  machine: "bun 1.4.5, linux x64",
  commit: "abc1234",
  ceilingFormula: "1000*W/(T*d)",
  generatedAt: new Date("2026-12-03T12:00:00Z"),
};

describe("renderStressReport", () => {
  const runs = [run("Memory", 1), run("Memory", 2), run("File SQLite", 2, { source: "prev.jsonl 2026-12-01 10:00" })];
  const html = renderStressReport(runs, meta);

  test("has one chart per figure and a latency distribution per run, every run in each overlaid chart", () => {
    const figures = [...html.matchAll(/<svg class="chart" data-figure="([^"]+)"/g)].map((m) => m[1]);
    expect(figures).toEqual(["orch-vs-ceiling", "throughput", "in-flight", "latency-0", "latency-1", "latency-2", "rss"]);
    for (const f of REPORT_FIGURES) expect(figures).toContain(f);
    const chart = (id: string) => /<svg class="chart" data-figure="[^"]+"[\s\S]*?<\/svg>/g.exec(html.slice(html.indexOf(`data-figure="${id}"`) - 30))![0];
    for (const id of ["throughput", "in-flight", "rss"]) expect(elements(chart(id), "path", "series")).toHaveLength(3);
    expect(elements(chart("orch-vs-ceiling"), "rect", "bar")).toHaveLength(3);
    // The ceilings of 1/1 and 2/2 as reference lines on the throughput chart, and over each bar.
    expect(elements(chart("throughput"), "line", "ref-line").map((l) => l["data-value"])).toEqual(["20", "40"]);
    expect(elements(chart("orch-vs-ceiling"), "line", "ceiling").map((l) => l["data-value"])).toEqual(["20", "40", "40"]);
    expect(elements(chart("latency-1"), "line", "percentile").map((l) => l["data-value"])).toEqual(["500", "550", "575"]);
  });

  test("shows the comparison table with the ceiling and the share of it, and labels an earlier run with its source", () => {
    expect(html).toContain("<h2>Comparison table</h2>");
    const rows = [...html.matchAll(/<tr><th scope="row">([^<]+)<\/th>((?:<td>[^<]*<\/td>)+)<\/tr>/g)].map((m) => [m[1], ...[...m[2]!.matchAll(/<td>([^<]*)<\/td>/g)].map((c) => c[1])]);
    expect(rows[0]).toEqual(["Memory 1/1", "100", "0", "100.00", "18.00", "20.00", "90.0", "90.00", "1000.00", "1100.00", "1150.00", "70.0", "12.0"]);
    expect(rows[2]![0]).toBe("File SQLite 2/2 (prev.jsonl 2026-12-01 10:00)");
    expect(html).toContain("abc1234");
  });

  test("is self-contained: no script, no external stylesheet, image or link", () => {
    expect(html).not.toMatch(/<script|<link|<img|<iframe/i);
    expect(html).not.toMatch(/(src|href)\s*=/i);
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/@import|url\(/);
  });

  test("escapes provider labels, config and machine text everywhere", () => {
    const evil = renderStressReport([run("<script>alert(1)</script>", 1)], { ...meta, config: "a<b", machine: '"quoted" & <i>' });
    expect(evil).not.toContain("<script>");
    expect(evil).toContain("&lt;script&gt;alert(1)&lt;/script&gt; 1/1");
    expect(evil).toContain("a&lt;b");
    expect(evil).toContain("&quot;quoted&quot; &amp; &lt;i&gt;");
  });

  test("a run from JSON written before the timeline existed shows (no data) in the time charts", () => {
    const old = renderStressReport([run("Memory", 1, { timeline: null, latencyHistogram: null })], meta);
    expect(old).toContain("Memory 1/1 (no data)");
    expect(old).toContain("no completed instances");
  });
});

describe("throughputPoints", () => {
  test("is completions per second at the end of each second, the last partial second scaled, a tiny last fragment dropped", () => {
    expect(throughputPoints({ launchedPerSec: [], completedPerSec: [10, 20, 5], failedPerSec: [], inFlight: [], totalMs: 2500 })).toEqual([[1, 10], [2, 20], [2.5, 10]]);
    expect(throughputPoints({ launchedPerSec: [], completedPerSec: [10, 1], failedPerSec: [], inFlight: [], totalMs: 1100 })).toEqual([[1, 10]]);
  });
});

describe("parseRunsJson", () => {
  const row = {
    scenario: "parallel-orchestrations",
    provider: "Memory",
    config_label: "2/2",
    name: "Memory",
    config: { durationSecs: 1 },
    completed: 10,
    failed: 0,
    successRate: 100,
    orchThroughput: 9.5,
    activityThroughput: 47.5,
    latency: { meanMs: 1, p50Ms: 1, p95Ms: 2, p99Ms: 3, maxMs: 4, count: 10 },
    peakRssMb: 50,
    cpuPercent: 3,
    rssTimelineMb: [50],
    timeline: [{ second: 0, phase: "launching", spanMs: 1000, launched: 10, completed: 10, failed: 0, inFlight: 0, latencyP50Ms: 1, latencyMaxMs: 4, rssMb: 50 }],
    latencyHistogram: { fromMs: 1, binMs: 1, counts: [10] },
    ceiling_orch_per_sec: 40,
    timestamp: "2026-12-03T13:46:47.123Z",
  };

  test("reads --json lines into runs labelled with their file and time", () => {
    // The verdict line --json ends with is not a run.
    const verdict = JSON.stringify({ verdict: { summary: { status: "pass" } } });
    const runs = parseRunsJson(`${JSON.stringify(row)}\n\n${JSON.stringify({ ...row, config_label: "1/1", ceiling_orch_per_sec: null })}\n${verdict}\n`, "prev.jsonl");
    expect(runs).toHaveLength(2);
    expect(runLabel(runs[0]!)).toBe("Memory 2/2 (prev.jsonl 2026-12-03 13:46)");
    expect(runs[0]!.ceilingOrchPerSec).toBe(40);
    expect(runs[1]!.ceilingOrchPerSec).toBeNull();
    expect(runs[0]!.timeline?.completedPerSec).toEqual([10]);
  });

  test("refuses a malformed line, naming the file, the line and the field", () => {
    const err = (text: string) => {
      try {
        parseRunsJson(text, "prev.jsonl");
      } catch (e) {
        expect(e).toBeInstanceOf(ReportInputError);
        return (e as Error).message;
      }
      throw new Error("accepted");
    };
    expect(err("not json")).toStartWith("prev.jsonl:1: not a JSON line of --json output");
    expect(err(`${JSON.stringify(row)}\n${JSON.stringify({ ...row, orchThroughput: "fast" })}`)).toBe('prev.jsonl:2: orchThroughput must be a finite number, got "fast"');
    expect(err(JSON.stringify({ ...row, timeline: [{ ...row.timeline[0], inFlight: null }] }))).toContain("timeline[0].inFlight must be a finite number");
    expect(err(JSON.stringify({ ...row, timeline: { completedPerSec: [1] } }))).toContain("timeline must be an array of seconds");
    expect(err("\n\n")).toContain("prev.jsonl: no runs in it");
  });
});
