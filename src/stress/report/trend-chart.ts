/**
 * The trend chart beside stress-test-results.md (docs/stress-tests.md §10.4): each figure of the
 * tracked table (Orch/sec, p50/p95/p99 latency, peak RSS) across the tracked commits, oldest on
 * the left, one line per provider x config, and a key of the commits with their subjects. One
 * standalone SVG file, redrawn from every entry on each `--track` and linked from the markdown.
 * Commit subjects and provider labels are user data: escaped like everything else.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { escapeXml } from "./escape.ts";
import { lineChart, type LineSeries } from "./line-chart.ts";
import { parseResultsFile, type TrackedEntry } from "./results-history.ts";

/** The figures drawn, by table header, with the axis title of each. */
export const TREND_FIGURES: readonly { header: string; figure: string; title: string; yLabel: string }[] = [
  { header: "Orch/sec", figure: "trend-orch-per-sec", title: "Throughput", yLabel: "throughput (orch/s)" },
  { header: "p50 lat ms", figure: "trend-p50", title: "p50 latency", yLabel: "p50 latency (ms)" },
  { header: "p95 lat ms", figure: "trend-p95", title: "p95 latency", yLabel: "p95 latency (ms)" },
  { header: "p99 lat ms", figure: "trend-p99", title: "p99 latency", yLabel: "p99 latency (ms)" },
  { header: "Peak RSS MB", figure: "trend-rss", title: "Peak memory", yLabel: "peak RSS (MB)" },
];

const PANEL_W = 600;
const KEY_LINE = 15;
const MAX_KEY = 30;

/** The file name of the trend chart of a results file: `stress-test-results.md` -> `stress-test-results-trend.svg`. */
export function trendFileName(resultsFile: string): string {
  return `${basename(resultsFile).replace(/\.md$/i, "")}-trend.svg`;
}

/**
 * The workload of an entry (its config note without the slot pairs), so that runs of different
 * workloads are different lines: a 0 ms run is not a regression of a 10 ms one.
 */
function workloadOf(e: TrackedEntry): string {
  return (e.note ?? "").replace(/^Config:\s*/, "").replace(/\s*orch\/worker=\S+/, "").trim();
}

/** The trend chart of `entries` (file order, newest first) as a standalone SVG. */
export function renderTrendChart(entries: readonly TrackedEntry[]): string {
  const chrono = [...entries].reverse();
  // Series: provider x config, plus the workload fields that differ between entries when there are several.
  // An entry without a config note (trackResults' note is optional) has no workload to tell apart: no suffix.
  const workloads = [...new Set(chrono.map(workloadOf))].filter((w) => w !== "");
  const fields = workloads.map((w) => new Map(w.split(/\s+/).filter((t) => t.includes("=")).map((t) => t.split("=", 2) as [string, string])));
  const varying = [...new Set(fields.flatMap((m) => [...m.keys()]))].filter((k) => new Set(fields.map((m) => m.get(k))).size > 1);
  const suffixOf = (e: TrackedEntry) => {
    const w = workloads.indexOf(workloadOf(e));
    if (varying.length === 0 || w < 0) return "";
    const m = fields[w]!;
    return ` [${varying.map((k) => `${k}=${m.get(k) ?? "?"}`).join(" ")}]`;
  };
  const keys: string[] = [];
  for (const e of chrono) for (const r of e.rows) {
    const k = `${r.provider} ${r.config}${suffixOf(e)}`;
    if (!keys.includes(k)) keys.push(k);
  }
  const xLabels = chrono.map((e, i) => ({ value: i, label: e.commit, title: `${e.commit} ${e.timestamp}${e.subject === null ? "" : `: ${e.subject}`}` }));

  const panels = TREND_FIGURES.map((f) => {
    const series: LineSeries[] = keys.map((key, s) => ({
      label: key,
      style: s,
      points: chrono.flatMap((e, i) =>
        e.rows.filter((r) => `${r.provider} ${r.config}${suffixOf(e)}` === key && r.figures[f.header] !== undefined).map((r) => [i, r.figures[f.header]!] as [number, number]),
      ),
    }));
    return lineChart({ figure: f.figure, title: f.title, xLabel: "tracked commit (oldest left)", yLabel: f.yLabel, series, xLabels, width: PANEL_W, plotHeight: 200 });
  });

  // Two panels a row; the commit key under them.
  const heights = panels.map((p) => Number(/height="([\d.]+)"/.exec(p)?.[1] ?? 0));
  const rows: number[] = [];
  for (let i = 0; i < panels.length; i += 2) rows.push(Math.max(heights[i]!, heights[i + 1] ?? 0));
  const header = 34;
  let y = header;
  const placed: string[] = [];
  rows.forEach((h, r) => {
    for (let c = 0; c < 2; c++) {
      const p = panels[r * 2 + c];
      if (p === undefined) continue;
      placed.push(p.replace(/^<svg /, `<svg x="${c * PANEL_W}" y="${y}" `));
    }
    y += h + 8;
  });
  const shown = chrono.slice(-MAX_KEY).reverse();
  const key = shown.map((e, i) => {
    const text = `${e.commit} · ${e.timestamp} · ${truncate(e.subject ?? "", 120)}`;
    return `<text x="16" y="${y + 20 + i * KEY_LINE}">${escapeXml(text)}</text>`;
  });
  const keyTitle = `<text x="16" y="${y + 4}" font-weight="700" font-size="13">Tracked commits, newest first${chrono.length > MAX_KEY ? ` (the last ${MAX_KEY} of ${chrono.length})` : ""}</text>`;
  const height = y + 20 + shown.length * KEY_LINE + 10;
  const width = PANEL_W * 2;
  const title = `duroxide stress trend: ${chrono.length} tracked run${chrono.length === 1 ? "" : "s"}`;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="trend" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeXml(title)}" font-family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif" font-size="11">` +
    `<title>${escapeXml(title)}</title><rect width="100%" height="100%" fill="#fff"/>` +
    `<text x="16" y="24" font-size="16" font-weight="700">${escapeXml(title)}</text>` +
    (chrono.length === 0 ? `<text x="16" y="${header + 20}" fill="#777">no tracked runs yet</text>` : "") +
    placed.join("") +
    `<g font-family="ui-monospace, Menlo, Consolas, monospace" fill="#222">${keyTitle}${key.join("")}</g></svg>\n`
  );
}

/** The markdown with a link to the trend chart in its description line (the line two below the title), unless it has one. */
export function withTrendLink(markdown: string, svgName: string): string {
  if (markdown.includes(`](${svgName})`)) return markdown;
  const lines = markdown.split("\n");
  const t = lines.findIndex((l) => l.startsWith("# "));
  const link = `Trend of each figure across the tracked commits: [${svgName}](${svgName}) (redrawn on each --track).`;
  if (t < 0 || t + 2 >= lines.length) return `${link}\n\n${markdown}`;
  const d = lines[t + 2]!;
  lines[t + 2] = d.trim() === "" ? link : `${d} ${link}`;
  return lines.join("\n");
}

/** Redraws the trend chart beside `resultsPath` from all its entries and links it from the file. Returns the SVG's path. */
export function writeTrendChart(resultsPath: string): string {
  const md = existsSync(resultsPath) ? readFileSync(resultsPath, "utf8") : "";
  const name = trendFileName(resultsPath);
  const svgPath = join(dirname(resultsPath), name);
  writeFileSync(svgPath, renderTrendChart(parseResultsFile(md)));
  const linked = withTrendLink(md, name);
  if (linked !== md) writeFileSync(resultsPath, linked);
  return svgPath;
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}
