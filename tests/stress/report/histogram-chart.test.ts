// histogramChart (src/stress/report/histogram-chart.ts): a latency distribution with p50/p95/p99 marked.
import { describe, expect, test } from "bun:test";
import { histogramChart, histogramRange } from "../../../src/stress/report/histogram-chart.ts";
import { elements, texts, xTickAt, yTickAt } from "./svg-test-helpers.ts";

const histogram = { fromMs: 100, binMs: 10, counts: [2, 0, 6, 2] }; // 10 instances over 100..140 ms

describe("histogramChart", () => {
  const svg = histogramChart({
    figure: "latency-0",
    title: "Memory 1/1",
    xLabel: "latency (ms)",
    yLabel: "share of instances (%)",
    histogram,
    markers: [
      { label: "p50", value: 120 },
      { label: "p95", value: 130 },
      { label: "p99", value: 135 },
    ],
  });

  test("draws one bar per non-empty bin, as the share of instances", () => {
    const bins = elements(svg, "rect", "bin");
    expect(bins).toHaveLength(3);
    const zero = yTickAt(svg, "0");
    const per20 = zero - yTickAt(svg, "20");
    // 6 of 10 instances = 60 %
    expect(Number(bins[1]!.height)).toBeCloseTo(3 * per20, 1);
    expect(Number(bins[1]!.x)).toBeCloseTo(xTickAt(svg, "120"), 1);
  });

  test("marks p50, p95 and p99 with labelled vertical lines at their latency, each dashed differently", () => {
    const lines = elements(svg, "line", "percentile");
    expect(lines.map((l) => l["data-label"])).toEqual(["p50", "p95", "p99"]);
    expect(Number(lines[0]!.x1)).toBe(xTickAt(svg, "120"));
    expect(Number(lines[1]!.x1)).toBe(xTickAt(svg, "130"));
    expect(new Set(lines.map((l) => l["stroke-dasharray"] ?? "solid")).size).toBe(3);
    expect(texts(svg, "percentile-label")).toEqual(["p50", "p95", "p99"]);
    expect(svg).toContain(">p95 130.0 ms</text>");
    expect(texts(svg, "x-label")).toEqual(["latency (ms)"]);
    expect(texts(svg, "y-label")).toEqual(["share of instances (%)"]);
  });

  test("histogramRange covers the bins; an empty histogram says there were no completed instances", () => {
    expect(histogramRange(histogram)).toEqual([100, 140]);
    const empty = histogramChart({ figure: "latency-1", title: "x", xLabel: "latency (ms)", yLabel: "%", histogram: { fromMs: 0, binMs: 1, counts: [] }, markers: [] });
    expect(elements(empty, "rect", "bin")).toHaveLength(0);
    expect(texts(empty, "no-data")).toEqual(["no completed instances"]);
  });
});
