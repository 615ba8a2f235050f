/**
 * A latency distribution as an SVG string (docs/stress-tests.md §10.2): the run's histogram as
 * the share of completed instances per bin, with the p50, p95 and p99 latencies marked by
 * labelled vertical lines of different dash patterns. A shared x domain lets several runs'
 * histograms sit side by side on one scale. A pure function of its data.
 */
import type { LatencyHistogram } from "../latency-histogram.ts";
import { chartFrame, HALO, type LegendItem } from "./chart-frame.ts";
import { escapeXml } from "./escape.ts";
import { niceTicks, px } from "./scale.ts";
import { seriesStyle } from "./series-style.ts";

export interface Marker {
  label: string;
  value: number;
}

export interface HistogramChartSpec {
  figure: string;
  title: string;
  xLabel: string;
  yLabel: string;
  histogram: LatencyHistogram;
  /** Vertical lines, e.g. p50 / p95 / p99 (x units). */
  markers: readonly Marker[];
  /** x range to draw (shared between runs); default the histogram's own. */
  xDomain?: readonly [number, number];
  style?: number;
  width?: number;
  plotHeight?: number;
  standalone?: boolean;
}

const MARKER_DASHES = ["", "6 3", "2 2", "10 3 2 3"];

/** The x range a histogram covers: [first bin's lower edge, last bin's upper edge]. */
export function histogramRange(h: LatencyHistogram): [number, number] {
  return [h.fromMs, h.fromMs + h.binMs * Math.max(1, h.counts.length)];
}

export function histogramChart(spec: HistogramChartSpec): string {
  const h = spec.histogram;
  const total = h.counts.reduce((a, b) => a + b, 0);
  const [lo, hi] = spec.xDomain ?? histogramRange(h);
  const shares = h.counts.map((c) => (total > 0 ? (c / total) * 100 : 0));
  const xTicks = niceTicks(lo, hi, 6);
  const yTicks = niceTicks(0, Math.max(1, ...shares) * 1.12, 4);
  const st = seriesStyle(spec.style ?? 0);
  const legend: LegendItem[] = [
    { kind: "bar", label: `instances (${total})`, color: st.color },
    ...spec.markers.map((m, i) => ({ kind: "line" as const, label: `${m.label} ${m.value.toFixed(1)} ms`, color: "#111", dash: MARKER_DASHES[i % MARKER_DASHES.length]! })),
  ];
  const f = chartFrame({ ...spec, x: { kind: "linear", ticks: xTicks }, y: yTicks, legend });
  const body: string[] = [];
  h.counts.forEach((c, i) => {
    if (c === 0) return;
    const x0 = f.x(h.fromMs + i * h.binMs);
    const x1 = f.x(h.fromMs + (i + 1) * h.binMs);
    const y = f.y(shares[i]!);
    body.push(`<rect class="bin" x="${px(x0)}" y="${px(y)}" width="${px(Math.max(1, x1 - x0 - 0.5))}" height="${px(f.bottom - y)}" fill="${st.color}" fill-opacity="0.55" stroke="${st.color}" stroke-width="0.6"><title>${escapeXml(`${c} instances`)}</title></rect>`);
  });
  spec.markers.forEach((m, i) => {
    const x = f.x(m.value);
    const dash = MARKER_DASHES[i % MARKER_DASHES.length]!;
    const labelY = f.top + 10 + i * 12;
    const anchorEnd = x > f.right - 90;
    body.push(
      `<line class="percentile" data-label="${escapeXml(m.label)}" data-value="${m.value}" x1="${px(x)}" y1="${px(f.top)}" x2="${px(x)}" y2="${px(f.bottom)}" stroke="#111" stroke-width="1.8"${dash === "" ? "" : ` stroke-dasharray="${dash}"`}/>` +
        `<text class="percentile-label" ${HALO} x="${px(anchorEnd ? x - 3 : x + 3)}" y="${px(labelY)}" text-anchor="${anchorEnd ? "end" : "start"}" fill="#111" font-weight="600">${escapeXml(m.label)}</text>`,
    );
  });
  if (total === 0) body.push(`<text class="no-data" x="${px((f.left + f.right) / 2)}" y="${px((f.top + f.bottom) / 2)}" text-anchor="middle" fill="#777">no completed instances</text>`);
  return f.render(body.join(""));
}
