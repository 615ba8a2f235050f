// scripts/parallel_orchestrations.ts --report / --compare: a short real run writes the HTML report;
// a bad report path or comparison file is refused before any run starts.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { checkReportPath } from "../../../src/stress/report/report-file.ts";
import { ReportInputError } from "../../../src/stress/report/report-run.ts";
import { elements } from "./svg-test-helpers.ts";

const ROOT = resolve(import.meta.dir, "../../..");
const SCRIPT = join(ROOT, "scripts/parallel_orchestrations.ts");
const tmp = mkdtempSync(join(tmpdir(), "duroxide-report-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([process.execPath, "run", SCRIPT, ...args], { cwd: tmp, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

const QUICK = ["--provider", "memory", "--config", "1/1,2/2", "--duration", "0.6", "--max-concurrent", "3", "--tasks", "2", "--delay-ms", "2"];

describe("parallel_orchestrations.ts --report", () => {
  test("a short run writes a self-contained report: one chart per figure and per run, every run in the table; --compare adds an earlier run", async () => {
    const first = await cli([...QUICK, "--json", "--report", "first.html"]);
    expect(first.code).toBe(0);
    expect(first.stderr).toContain(`Report written to ${join(tmp, "first.html")}`);
    const html = readFileSync(join(tmp, "first.html"), "utf8");
    const figures = [...html.matchAll(/<svg class="chart" data-figure="([^"]+)"/g)].map((m) => m[1]);
    expect(figures).toEqual(["orch-vs-ceiling", "throughput", "in-flight", "latency-0", "latency-1", "rss"]);
    expect(html).toContain('<th scope="row">Memory 1/1</th>');
    expect(html).toContain('<th scope="row">Memory 2/2</th>');
    // Ceilings 1000*W/(T*d) = 1000/(2*2) = 250 and 500 orch/s over the bars.
    expect(elements(html, "line", "ceiling").map((l) => l["data-value"])).toEqual(["250", "500"]);
    // Real data was drawn: completions in the throughput chart, percentiles in each distribution.
    expect(elements(html, "path", "series").length).toBeGreaterThanOrEqual(6);
    expect(elements(html, "line", "percentile")).toHaveLength(6);
    // No external references: nothing fetched, nothing run.
    expect(html).not.toMatch(/\b(src|href)\s*=\s*["']?(https?:)?\/\//i);
    expect(html).not.toMatch(/<script|<link|<img|<iframe|@import|url\(/i);

    writeFileSync(join(tmp, "first.jsonl"), first.stdout);
    const second = await cli([...QUICK.slice(0, 2), "--config", "2/2", ...QUICK.slice(4), "--report", "second.html", "--compare", "first.jsonl"]);
    expect(second.code).toBe(0);
    const both = readFileSync(join(tmp, "second.html"), "utf8");
    expect([...both.matchAll(/data-figure="latency-\d"/g)]).toHaveLength(3);
    expect(both).toMatch(/<th scope="row">Memory 1\/1 \(first\.jsonl \d{4}-\d\d-\d\d \d\d:\d\d\)<\/th>/);
  }, 30_000);

  test("a report path that cannot be written, or a bad --compare file, is refused at once (exit 2), before any run", async () => {
    mkdirSync(join(tmp, "a-dir.html"), { recursive: true });
    writeFileSync(join(tmp, "bad.jsonl"), '{"provider": "x"}\n');
    const cases: [string[], string][] = [
      [["--report", "no-such-dir/r.html"], "--report \"no-such-dir/r.html\": directory"],
      [["--report", "report.txt"], "give a path ending in .html"],
      [["--report", "a-dir.html"], "is a directory"],
      [["--compare", "first.jsonl"], "--compare adds earlier runs to the report: it needs --report FILE.html"],
      [["--report", "r.html", "--compare", "missing.jsonl"], '--compare "missing.jsonl": no such file'],
      [["--report", "r.html", "--compare", "bad.jsonl"], "bad.jsonl:1: config_label must be a non-empty string"],
      [["--bench", "--report", "r.html"], "--report draws the stress runs; --bench has none"],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(message);
      expect(r.stderr).not.toContain("duroxide stress:"); // the run's header: nothing started
    }
  });
});

describe("checkReportPath", () => {
  test("returns the absolute path of a writable .html file, and a ReportInputError otherwise", () => {
    expect(checkReportPath(join(tmp, "ok.html"))).toBe(join(tmp, "ok.html"));
    expect(checkReportPath(join(tmp, "OK.HTM"))).toBe(join(tmp, "OK.HTM"));
    expect(() => checkReportPath("  ")).toThrow(ReportInputError);
    expect(() => checkReportPath(join(tmp, "x.svg"))).toThrow(/ending in \.html/);
  });
});
