// The trend chart beside stress-test-results.md: parseResultsFile (results-history.ts), renderTrendChart,
// withTrendLink, writeTrendChart (trend-chart.ts), and trackResults drawing it.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseResultsFile } from "../../../src/stress/report/results-history.ts";
import { renderTrendChart, TREND_FIGURES, withTrendLink, writeTrendChart } from "../../../src/stress/report/trend-chart.ts";
import { trackResults } from "../../../src/stress/tracking.ts";
import { elements, texts } from "./svg-test-helpers.ts";

const tmp = mkdtempSync(join(tmpdir(), "duroxide-trend-test-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const HEADER =
  "Provider             Config     Completed  Failed     Infra    Config   App      Success %  Orch/sec        Activity/sec    p50 lat ms  p95 lat ms  p99 lat ms  Peak RSS MB";
function entry(sha: string, subject: string, orch: [number, number], note = "Config: max_concurrent=20 duration=10s tasks=5 delay=10ms wait=60s orch/worker=1/1,2/2 processes=1"): string {
  return [
    "",
    "---",
    "",
    `## Commit: ${sha} - Timestamp: 2026-12-0${orch[0] % 9} 13:46:47 UTC`,
    "",
    "### Changes Since Last Test",
    "```",
    `${sha} ${subject}`,
    "0000000 an older commit",
    "```",
    "",
    "### Test Results",
    note,
    "",
    "```",
    HEADER,
    "-".repeat(171),
    `In-Memory SQLite     1/1        203        0          0        0        0        100.00     ${orch[0].toFixed(2).padEnd(15)} 91.83           1073.95     1109.73     1117.35     65.7`,
    `File SQLite          2/2        396        0          0        3        0        100.00     ${orch[1].toFixed(2).padEnd(15)} 188.34          525.36      566.94      569.21      76.2`,
    "(Config = orch/worker slots; Infra/Config/App = failures by category; lat = per-instance latency, start call -> completion observed; Peak RSS = process)",
    "```",
    "",
  ].join("\n");
}
const FILE = `# Duroxide Stress Test Results\n\nParallel-orchestrations runs recorded by --track, newest first.\n\n${entry("bbbbbbb", "Provider <script>alert(1)</script> & co", [19, 38])}${entry("aaaaaaa", "first", [17, 35])}`;

describe("parseResultsFile", () => {
  test("reads each entry's commit, subject, note and rows (a provider label with spaces included)", () => {
    const entries = parseResultsFile(FILE);
    expect(entries.map((e) => e.commit)).toEqual(["bbbbbbb", "aaaaaaa"]);
    expect(entries[0]!.subject).toBe("Provider <script>alert(1)</script> & co");
    expect(entries[0]!.note).toStartWith("Config: max_concurrent=20");
    expect(entries[0]!.rows.map((r) => [r.provider, r.config])).toEqual([["In-Memory SQLite", "1/1"], ["File SQLite", "2/2"]]);
    expect(entries[0]!.rows[1]!.figures).toMatchObject({ "Orch/sec": 38, "p95 lat ms": 566.94, "Peak RSS MB": 76.2, "Config failures": 3 });
  });

  test("reads the file --track wrote for this repository", () => {
    const real = parseResultsFile(readFileSync(join(import.meta.dir, "../../../stress-test-results.md"), "utf8"));
    expect(real.length).toBeGreaterThan(0);
    expect(real.at(-1)!.rows.length).toBeGreaterThan(0);
    for (const r of real.at(-1)!.rows) expect(r.figures["Orch/sec"]).toBeGreaterThan(0);
  });
});

describe("renderTrendChart", () => {
  const svg = renderTrendChart(parseResultsFile(FILE));

  test("draws one panel per figure, one line per provider x config, commits oldest first on the x axis", () => {
    expect(svg).toStartWith('<svg xmlns="http://www.w3.org/2000/svg" class="trend"');
    const figures = [...svg.matchAll(/data-figure="([^"]+)"/g)].map((m) => m[1]);
    expect(figures).toEqual(TREND_FIGURES.map((f) => f.figure));
    expect(elements(svg, "path", "series")).toHaveLength(TREND_FIGURES.length * 2);
    expect(texts(svg, "x-tick").slice(0, 2)).toEqual(["aaaaaaa", "bbbbbbb"]);
    for (const f of TREND_FIGURES) expect(texts(svg, "y-label")).toContain(f.yLabel);
    expect(svg).toContain(">In-Memory SQLite 1/1</text>");
  });

  test("escapes commit subjects", () => {
    expect(svg).not.toContain("<script>");
    expect(svg).toContain("Provider &lt;script&gt;alert(1)&lt;/script&gt; &amp; co");
  });

  test("tells runs of different workloads apart by the fields that differ", () => {
    const mixed = `# T\n\nd\n\n${entry("ccccccc", "zero delay", [300, 600], "Config: max_concurrent=100 duration=10s tasks=5 delay=0ms wait=60s orch/worker=1/1,2/2 processes=1")}${entry("aaaaaaa", "first", [17, 35])}`;
    const out = renderTrendChart(parseResultsFile(mixed));
    expect(out).toContain(">In-Memory SQLite 1/1 [max_concurrent=20 delay=10ms]</text>");
    expect(out).toContain(">In-Memory SQLite 1/1 [max_concurrent=100 delay=0ms]</text>");
  });
});

describe("writeTrendChart and trackResults", () => {
  test("withTrendLink adds the link to the description line once, keeping the title block's four lines", () => {
    const linked = withTrendLink(FILE, "x-trend.svg");
    expect(linked.split("\n")[2]).toContain("[x-trend.svg](x-trend.svg)");
    expect(linked.split("\n").length).toBe(FILE.split("\n").length);
    expect(withTrendLink(linked, "x-trend.svg")).toBe(linked);
  });

  test("writeTrendChart writes <name>-trend.svg beside the file and links it", () => {
    const md = join(tmp, "results.md");
    writeFileSync(md, FILE);
    const svg = writeTrendChart(md);
    expect(svg).toBe(join(tmp, "results-trend.svg"));
    expect(readFileSync(svg, "utf8")).toContain('data-figure="trend-orch-per-sec"');
    expect(readFileSync(md, "utf8")).toContain("[results-trend.svg](results-trend.svg)");
  });

  test("trackResults redraws stress-test-results-trend.svg from every entry, the new one included", () => {
    const dir = mkdtempSync(join(tmp, "track-"));
    writeFileSync(join(dir, "stress-test-results.md"), FILE);
    const table = `=== Comparison Table ===\n${HEADER}\n${"-".repeat(171)}\nMemory               2/2        10         0          0        0        0        100.00     9.50            47.50           1.00        2.00        3.00        50.0\n`;
    const path = trackResults(dir, table);
    const svgPath = join(dir, "stress-test-results-trend.svg");
    expect(existsSync(svgPath)).toBe(true);
    const svg = readFileSync(svgPath, "utf8");
    expect(svg).toContain("3 tracked runs");
    expect(svg).toContain(">Memory 2/2</text>");
    expect(readFileSync(path, "utf8")).toContain("[stress-test-results-trend.svg](stress-test-results-trend.svg)");
  });
});
