// lineChart (src/stress/report/line-chart.ts): a pure function of hand-made data.
import { describe, expect, test } from "bun:test";
import { lineChart, type LineChartSpec } from "../../../src/stress/report/line-chart.ts";
import { seriesStyle } from "../../../src/stress/report/series-style.ts";
import { elements, texts, xTickAt, yTickAt } from "./svg-test-helpers.ts";

const base: LineChartSpec = {
  figure: "throughput",
  title: "Completed instances per second",
  xLabel: "time since the pump started (s)",
  yLabel: "throughput (orch/s)",
  series: [
    { label: "Memory 1/1", points: [[1, 18], [2, 19], [3, 18.5]] },
    { label: "Memory 2/2", points: [[1, 36], [2, 38], [3, 37]] },
    { label: "File SQLite 2/2", points: [[1, 35], [2, 36]] },
  ],
  refLines: [{ value: 20, label: "ceiling 1/1: 20 orch/s" }, { value: 40, label: "ceiling 2/2: 40 orch/s" }],
  refLegend: "worker ceiling",
};

describe("lineChart", () => {
  test("labels both axes with their units and gives the chart its title and figure id", () => {
    const svg = lineChart(base);
    expect(texts(svg, "x-label")).toEqual(["time since the pump started (s)"]);
    expect(texts(svg, "y-label")).toEqual(["throughput (orch/s)"]);
    expect(texts(svg, "chart-title")).toEqual(["Completed instances per second"]);
    expect(svg).toStartWith('<svg class="chart" data-figure="throughput"');
    expect(svg).not.toContain("xmlns"); // inline in HTML; standalone adds it
    expect(lineChart({ ...base, standalone: true })).toContain('xmlns="http://www.w3.org/2000/svg"');
  });

  test("draws one path per series, through its points, each with its own dash pattern and a legend entry", () => {
    const svg = lineChart(base);
    const paths = elements(svg, "path", "series");
    expect(paths).toHaveLength(3);
    // The third series has two points: one move and one line segment.
    expect(paths[2]!.d!.match(/[ML]/g)).toEqual(["M", "L"]);
    expect(new Set(paths.map((p) => p["stroke-dasharray"] ?? "solid")).size).toBe(3);
    expect(new Set(paths.map((p) => p.stroke)).size).toBe(3);
    for (const s of base.series) expect(svg).toContain(`>${s.label}</text>`);
    expect(svg).toContain(">worker ceiling</text>");
  });

  test("puts each ceiling line at the y of its value on the axis, with its label", () => {
    const svg = lineChart(base);
    const refs = elements(svg, "line", "ref-line");
    expect(refs.map((r) => r["data-value"])).toEqual(["20", "40"]);
    const at20 = refs.find((r) => r["data-value"] === "20")!;
    expect(Number(at20.y1)).toBe(yTickAt(svg, "20"));
    expect(at20.y2).toBe(at20.y1);
    expect(Number(refs[1]!.y1)).toBe(yTickAt(svg, "40"));
    expect(texts(svg, "ref-label")).toEqual(["ceiling 1/1: 20 orch/s", "ceiling 2/2: 40 orch/s"]);
  });

  test("maps a point onto the axes: x at its tick, y at its tick", () => {
    const svg = lineChart({ ...base, series: [{ label: "one", points: [[2, 10], [4, 30]] }], refLines: [] });
    const d = elements(svg, "path", "series")[0]!.d!;
    const [, x0, y0] = /^M([\d.]+) ([\d.]+)/.exec(d)!;
    expect(Number(x0)).toBe(xTickAt(svg, "2"));
    expect(Number(y0)).toBe(yTickAt(svg, "10"));
  });

  test("escapes series labels: a provider named <script> stays text", () => {
    const svg = lineChart({ ...base, series: [{ label: '<script>alert("x")</script>', points: [[0, 1]] }] });
    expect(svg).not.toContain("<script>");
    expect(svg).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
  });

  test("a series without points is in the legend as (no data) and draws no path", () => {
    const svg = lineChart({ ...base, series: [{ label: "old run", points: [] }], refLines: [] });
    expect(elements(svg, "path", "series")).toHaveLength(0);
    expect(svg).toContain("old run (no data)");
    expect(texts(svg, "no-data")).toEqual(["no data"]);
  });

  test("hand-placed x labels (commits) replace the numeric ticks", () => {
    const svg = lineChart({ ...base, refLines: [], series: [{ label: "a", points: [[0, 1], [1, 2]] }], xLabels: [{ value: 0, label: "abc1234", title: "first & <b>" }, { value: 1, label: "def5678" }] });
    expect(texts(svg, "x-tick")).toEqual(["abc1234", "def5678"]);
    expect(svg).toContain("<title>first &amp; &lt;b&gt;</title>");
  });
});

describe("seriesStyle", () => {
  test("the first 8 series differ in colour, dash pattern and marker shape (distinct in grey scale)", () => {
    const styles = Array.from({ length: 8 }, (_, i) => seriesStyle(i));
    expect(new Set(styles.map((s) => s.color)).size).toBe(8);
    expect(new Set(styles.map((s) => s.dash)).size).toBe(8);
    expect(new Set(styles.map((s) => s.marker)).size).toBe(8);
    // Past 8 the colour repeats, but not with the same dash.
    expect(seriesStyle(8).color).toBe(styles[0]!.color);
    expect(seriesStyle(8).dash).not.toBe(styles[0]!.dash);
  });
});
