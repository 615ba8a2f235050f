// barChart (src/stress/report/bar-chart.ts): Orch/sec bars with the worker ceiling across each.
import { describe, expect, test } from "bun:test";
import { barChart, type BarChartSpec } from "../../../src/stress/report/bar-chart.ts";
import { elements, texts, yTickAt } from "./svg-test-helpers.ts";

const spec: BarChartSpec = {
  figure: "orch-vs-ceiling",
  title: "Throughput of each run, and its ceiling",
  xLabel: "provider and orch/worker slots",
  yLabel: "throughput (orch/s)",
  bars: [
    { label: "Memory 1/1", value: 18, ceiling: 20 },
    { label: "Memory 2/2", value: 30, ceiling: 40 },
    { label: "Custom 0 ms", value: 25, ceiling: null },
  ],
  barLegend: "Orch/sec",
  ceilingLegend: "worker ceiling 1000*W/(T*d)",
};

describe("barChart", () => {
  test("one bar per run, its top at its value, labelled with the value and its share of the ceiling", () => {
    const svg = barChart(spec);
    const bars = elements(svg, "rect", "bar");
    expect(bars.map((b) => b["data-value"])).toEqual(["18", "30", "25"]);
    const bottom = yTickAt(svg, "0");
    const y10 = yTickAt(svg, "10");
    const perUnit = (bottom - y10) / 10;
    expect(Number(bars[0]!.height)).toBeCloseTo(18 * perUnit, 1);
    expect(Number(bars[1]!.y)).toBeCloseTo(bottom - 30 * perUnit, 1);
    expect(texts(svg, "bar-value")).toEqual(["18.00 (90%)", "30.00 (75%)", "25.00"]);
    expect(texts(svg, "x-label")).toEqual(["provider and orch/worker slots"]);
    expect(texts(svg, "y-label")).toEqual(["throughput (orch/s)"]);
  });

  test("draws each ceiling as a line at its value, over its own bar only; a run without one has none", () => {
    const svg = barChart(spec);
    const ceilings = elements(svg, "line", "ceiling");
    expect(ceilings.map((c) => c["data-value"])).toEqual(["20", "40"]);
    expect(Number(ceilings[0]!.y1)).toBe(yTickAt(svg, "20"));
    expect(Number(ceilings[1]!.y1)).toBe(yTickAt(svg, "40"));
    const bars = elements(svg, "rect", "bar");
    for (const [i, c] of ceilings.entries()) {
      const mid = Number(bars[i]!.x) + Number(bars[i]!.width) / 2;
      expect(Number(c.x1)).toBeLessThan(mid);
      expect(Number(c.x2)).toBeGreaterThan(mid);
    }
    expect(svg).toContain(">worker ceiling 1000*W/(T*d)</text>");
  });

  test("escapes bar labels", () => {
    const svg = barChart({ ...spec, bars: [{ label: "<script>x</script> 1/1", value: 1 }] });
    expect(svg).not.toContain("<script>");
    expect(svg).toContain("&lt;script&gt;x&lt;/script&gt; 1/1");
  });
});
