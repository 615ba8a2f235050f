/**
 * The stress report (docs/stress-tests.md §10): one self-contained HTML file for a run of
 * `parallel_orchestrations.ts --report FILE.html`. Every provider x config of the run (and of
 * earlier runs given with `--compare`) appears in each figure: the comparison table, Orch/sec
 * against the worker ceiling, completions per second over the run, instances in flight, the
 * latency distribution with p50/p95/p99 marked, and RSS over time. Inline SVG and CSS only: no
 * script, no external asset, so the file can be mailed, archived or printed as it is.
 * A pure function of its data.
 */
import type { RunTimeline } from "../run-timeline.ts";
import { barChart } from "./bar-chart.ts";
import { escapeXml } from "./escape.ts";
import { histogramChart, histogramRange } from "./histogram-chart.ts";
import { lineChart, type LineSeries, type RefLine } from "./line-chart.ts";
import { runLabel, type ReportRun } from "./report-run.ts";

export interface StressReportMeta {
  /** e.g. "parallel-orchestrations". */
  scenario: string;
  /** The config line the script prints (max_concurrent=... orch/worker=...). */
  config: string;
  /** Machine description (CPU, cores, Bun version). */
  machine: string;
  /** Short sha of the code measured, when known. */
  commit?: string | null;
  /** The ceiling formula shown in the text, e.g. "1000*W/(T*d)"; null when the scenario has none. */
  ceilingFormula: string | null;
  generatedAt: Date;
}

/** Ids (`data-figure`) of the charts every report has, besides one `latency-<i>` chart per run. */
export const REPORT_FIGURES = ["orch-vs-ceiling", "throughput", "in-flight", "rss"] as const;

/** Points [end of second, rate] of completions per second; a last fragment under 0.25 s is dropped (its rate would be noise). */
export function throughputPoints(t: RunTimeline): [number, number][] {
  const pts: [number, number][] = [];
  const total = t.totalMs / 1000;
  t.completedPerSec.forEach((c, i) => {
    const len = Math.min(1, total - i);
    if (len < 0.25) return;
    pts.push([i + len, c / len]);
  });
  return pts;
}

export function renderStressReport(runs: readonly ReportRun[], meta: StressReportMeta): string {
  const labels = runs.map(runLabel);
  const series = (points: (r: ReportRun) => [number, number][]): LineSeries[] => runs.map((r, i) => ({ label: labels[i]!, points: points(r), style: i }));

  // Ceilings as reference lines, one per distinct value (configs with equal W share one).
  const ceilingRefs: RefLine[] = [];
  runs.forEach((r) => {
    if (r.ceilingOrchPerSec === null) return;
    const label = `ceiling ${r.configLabel}: ${fmt(r.ceilingOrchPerSec)} orch/s`;
    if (!ceilingRefs.some((c) => c.label === label)) ceilingRefs.push({ value: r.ceilingOrchPerSec, label });
  });
  const windowEnds = [...new Set(runs.map((r) => r.durationSecs))].map((d) => ({ value: d, label: `launch window ends (${fmt(d)} s)` }));

  const charts: string[] = [];
  charts.push(
    figure(
      "Orch/sec against the worker ceiling",
      barChart({
        figure: "orch-vs-ceiling",
        title: "Throughput of each run, and its ceiling",
        xLabel: "provider and orch/worker slots",
        yLabel: "throughput (orch/s)",
        bars: runs.map((r, i) => ({ label: labels[i]!, value: r.orchThroughput, ceiling: r.ceilingOrchPerSec, style: i })),
        barLegend: "Orch/sec over the whole run (pump + drain); % = share of the ceiling",
        ceilingLegend: meta.ceilingFormula === null ? "ceiling" : `worker ceiling ${meta.ceilingFormula}`,
        width: 900,
      }),
      "Each bar is the table's Orch/sec; the dashed line across it is that config's worker ceiling (docs/stress-tests.md §5.2).",
    ),
  );
  charts.push(
    figure(
      "Throughput over the run",
      lineChart({
        figure: "throughput",
        title: "Completed instances per second",
        xLabel: "time since the pump started (s)",
        yLabel: "throughput (orch/s)",
        series: series((r) => (r.timeline === null ? [] : throughputPoints(r.timeline))),
        refLines: ceilingRefs,
        refLegend: meta.ceilingFormula === null ? "ceiling" : `worker ceiling ${meta.ceilingFormula}`,
        xMarks: windowEnds,
        width: 900,
      }),
      "Completions in each second of the run. After the launch window ends the pump stops starting instances and the drain finishes the rest.",
    ),
  );
  charts.push(
    figure(
      "Instances in flight",
      lineChart({
        figure: "in-flight",
        title: "Instances in flight",
        xLabel: "time since the pump started (s)",
        yLabel: "instances in flight (count)",
        series: series((r) => (r.timeline === null ? [] : r.timeline.inFlight.map((n, i) => [Math.min(i + 1, r.timeline!.totalMs / 1000), n] as [number, number]))),
        xMarks: windowEnds,
        width: 900,
      }),
      "Started and not yet finished, at the end of each second: the pump holds it at max_concurrent, the drain takes it to zero.",
    ),
  );
  charts.push(latencySection(runs, labels));
  charts.push(
    figure(
      "Memory",
      lineChart({
        figure: "rss",
        title: "Resident memory of the harness process",
        xLabel: "time since the pump started (s)",
        yLabel: "RSS (MB)",
        series: series((r) => r.rssTimelineMb.map((mb, i) => [i, mb] as [number, number])),
        xMarks: windowEnds,
        width: 900,
      }),
      "RSS sampled every 250 ms and at completions, the first sample of each second shown (docs/stress-tests.md §4.1). With runtime processes it is the harness's own.",
    ),
  );

  const title = `duroxide stress report: ${meta.scenario}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeXml(title)}</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>${escapeXml(title)}</h1>
<dl class="meta">
<dt>config</dt><dd>${escapeXml(meta.config)}</dd>
<dt>machine</dt><dd>${escapeXml(meta.machine)}</dd>
${meta.commit ? `<dt>commit</dt><dd>${escapeXml(meta.commit)}</dd>` : ""}
<dt>generated</dt><dd>${escapeXml(meta.generatedAt.toISOString().slice(0, 19).replace("T", " "))} UTC</dd>
${meta.ceilingFormula === null ? "" : `<dt>ceiling</dt><dd>${escapeXml(meta.ceilingFormula)} orch/s: activity delay d ms, T activities per instance, W worker slots (N runtime processes)</dd>`}
</dl>
</header>
<section id="table">
<h2>Comparison table</h2>
${comparisonTable(runs, labels)}
</section>
${charts.join("\n")}
<footer>Written by scripts/parallel_orchestrations.ts --report; how to read it: docs/stress-tests.md §10.</footer>
</body>
</html>
`;
}

function latencySection(runs: readonly ReportRun[], labels: string[]): string {
  const ranges = runs.map((r) => (r.latencyHistogram === null || r.latencyHistogram.counts.length === 0 ? null : histogramRange(r.latencyHistogram)));
  const present = ranges.filter((x) => x !== null);
  const shared: [number, number] | null = present.length === 0 ? null : [Math.min(...present.map((x) => x[0])), Math.max(...present.map((x) => x[1]))];
  // One scale for all, unless a run would be squeezed into under an eighth of it.
  const useShared = shared !== null && present.every(([a, b]) => (b - a) * 8 >= shared[1] - shared[0]);
  const cells = runs.map((r, i) => {
    const h = r.latencyHistogram ?? { fromMs: 0, binMs: 1, counts: [] };
    const range = ranges[i];
    return histogramChart({
      figure: `latency-${i}`,
      title: labels[i]!,
      xLabel: "latency, start call to completion observed (ms)",
      yLabel: "share of instances (%)",
      histogram: h,
      markers: [
        { label: "p50", value: r.latency.p50Ms },
        { label: "p95", value: r.latency.p95Ms },
        { label: "p99", value: r.latency.p99Ms },
      ],
      ...(useShared ? { xDomain: shared! } : range !== null && range !== undefined ? { xDomain: range } : {}),
      style: i,
      width: 440,
      plotHeight: 170,
    });
  });
  return `<section id="latency" class="figure">
<h2>Latency distribution</h2>
<div class="grid">${cells.join("\n")}</div>
<p class="caption">Per completed instance, from the start call to the completion being observed, as a share of the run's completed instances; the lines mark p50, p95 and p99 (nearest rank). ${useShared ? "All runs share one latency scale." : "Each run has its own latency scale (their ranges differ too much for one)."}</p>
</section>`;
}

function comparisonTable(runs: readonly ReportRun[], labels: string[]): string {
  const head = ["Run", "Completed", "Failed", "Success %", "Orch/sec", "Ceiling", "% of ceiling", "Activity/sec", "p50 lat ms", "p95 lat ms", "p99 lat ms", "Peak RSS MB", "CPU %"];
  const rows = runs.map((r, i) => {
    const c = r.ceilingOrchPerSec;
    const cells = [
      r.completed,
      r.failed,
      r.successRate.toFixed(2),
      r.orchThroughput.toFixed(2),
      c === null ? "none" : c.toFixed(2),
      c === null || c <= 0 ? "" : `${((r.orchThroughput / c) * 100).toFixed(1)}`,
      r.activityThroughput.toFixed(2),
      r.latency.p50Ms.toFixed(2),
      r.latency.p95Ms.toFixed(2),
      r.latency.p99Ms.toFixed(2),
      r.peakRssMb.toFixed(1),
      r.cpuPercent.toFixed(1),
    ];
    const cls = r.failed > 0 || r.successRate < 100 ? ' class="failed"' : "";
    return `<tr${cls}><th scope="row">${escapeXml(labels[i]!)}</th>${cells.map((v) => `<td>${escapeXml(String(v))}</td>`).join("")}</tr>`;
  });
  return `<table class="comparison">
<thead><tr>${head.map((h) => `<th scope="col">${escapeXml(h)}</th>`).join("")}</tr></thead>
<tbody>
${rows.join("\n")}
</tbody>
</table>
<p class="caption">Orch/sec = completed / total time (pump + drain); lat = per-instance latency, start call to completion observed; Peak RSS = the harness process (plus each runtime process's peak with --processes); CPU % of one core. Rows in red fell short of 100 %.</p>`;
}

function figure(heading: string, svg: string, caption: string): string {
  return `<section class="figure">
<h2>${escapeXml(heading)}</h2>
${svg}
<p class="caption">${escapeXml(caption)}</p>
</section>`;
}

function fmt(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(2);
}

const CSS = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #111; margin: 24px auto; max-width: 960px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 8px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ccc; padding-bottom: 3px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0; color: #333; }
dl.meta dt { font-weight: 600; }
dl.meta dd { margin: 0; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12.5px; }
table.comparison { border-collapse: collapse; font-size: 12.5px; width: 100%; }
table.comparison th, table.comparison td { border: 1px solid #bbb; padding: 3px 6px; text-align: right; white-space: nowrap; }
table.comparison th[scope=row] { text-align: left; }
table.comparison thead th { background: #eee; white-space: normal; }
table.comparison tr.failed { color: #b00020; font-weight: 600; }
.caption { color: #444; font-size: 12.5px; margin: 4px 0 0; }
svg.chart { max-width: 100%; height: auto; display: block; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 8px; }
footer { margin-top: 32px; color: #666; font-size: 12px; }
@media print { body { margin: 0; max-width: none; } section { break-inside: avoid; } }
`;
