/**
 * A line chart as an SVG string (docs/stress-tests.md §10.2): one path per series, each with its
 * own colour, dash pattern and marker shape (series-style.ts), and horizontal reference lines
 * (the worker ceiling) labelled with their value. A pure function of its data.
 */
import { chartFrame, HALO, type LegendItem, type TickLabel } from "./chart-frame.ts";
import { escapeXml } from "./escape.ts";
import { niceTicks, px, type Ticks } from "./scale.ts";
import { markerSvg, seriesStyle } from "./series-style.ts";

export interface LineSeries {
  label: string;
  /** [x, y] in data units, in x order. */
  points: ReadonlyArray<readonly [number, number]>;
  /** Index of the series' style (seriesStyle), so that a run looks the same in every chart; default its position. */
  style?: number;
}

/** A horizontal line across the plot at `value` (in y units), labelled on the chart. */
export interface RefLine {
  value: number;
  label: string;
}

export interface LineChartSpec {
  figure: string;
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly LineSeries[];
  refLines?: readonly RefLine[];
  /** Legend text of the reference lines (one entry for all of them); default "reference". */
  refLegend?: string;
  /** x-axis labels placed by hand (e.g. commits), instead of numeric ticks; the range still fits the data. */
  xLabels?: readonly TickLabel[];
  /** Vertical lines at these x values (e.g. the end of the launch window), labelled at the top. */
  xMarks?: readonly RefLine[];
  width?: number;
  plotHeight?: number;
  standalone?: boolean;
}

/** Reference lines are a wide light-grey band: unlike any series (2 px, dark), in colour or grey scale. */
const REF_COLOR = "#a8a8a8";
const REF_WIDTH = 4;
const MAX_MARKERS = 12;

export function lineChart(spec: LineChartSpec): string {
  const refs = (spec.refLines ?? []).filter((r) => Number.isFinite(r.value));
  const xs = spec.series.flatMap((s) => s.points.map((p) => p[0])).concat((spec.xMarks ?? []).map((m) => m.value).filter(Number.isFinite));
  const ys = spec.series.flatMap((s) => s.points.map((p) => p[1])).concat(refs.map((r) => r.value));
  const xs2 = xs.concat((spec.xLabels ?? []).map((l) => l.value));
  const xTicks =
    spec.xLabels === undefined
      ? niceTicks(Math.min(0, ...xs2), xs2.length === 0 ? 1 : Math.max(...xs2), 6)
      : handPlacedRange(xs2);
  const yTicks = niceTicks(0, ys.length === 0 ? 1 : Math.max(...ys) * 1.04, 5);
  const legend: LegendItem[] = spec.series.map((s, i) => ({
    kind: "series",
    label: s.points.length === 0 ? `${s.label} (no data)` : s.label,
    style: seriesStyle(s.style ?? i),
  }));
  if (refs.length > 0) legend.push({ kind: "line", label: spec.refLegend ?? "reference", color: REF_COLOR, dash: "", width: REF_WIDTH });
  const f = chartFrame({ ...spec, x: { kind: "linear", ticks: xTicks, ...(spec.xLabels === undefined ? {} : { labels: spec.xLabels }) }, y: yTicks, legend });

  const body: string[] = [];
  // Reference lines under the data; lines at the same value share one label.
  const byValue = new Map<number, string[]>();
  for (const r of refs) byValue.set(r.value, [...(byValue.get(r.value) ?? []), r.label]);
  for (const [value, labels] of byValue) {
    const y = px(f.y(value));
    body.push(
      `<line class="ref-line" data-value="${value}" x1="${px(f.left)}" y1="${y}" x2="${px(f.right)}" y2="${y}" stroke="${REF_COLOR}" stroke-width="${REF_WIDTH}"/>` +
        `<text class="ref-label" ${HALO} x="${px(f.right - 4)}" y="${px(f.y(value) - 4)}" text-anchor="end" fill="#222">${escapeXml(labels.join("; "))}</text>`,
    );
  }
  for (const m of spec.xMarks ?? []) {
    if (!Number.isFinite(m.value)) continue;
    const x = px(f.x(m.value));
    body.push(
      `<line class="x-mark" data-value="${m.value}" x1="${x}" y1="${px(f.top)}" x2="${x}" y2="${px(f.bottom)}" stroke="#888" stroke-width="1" stroke-dasharray="2 3"/>` +
        `<text class="x-mark-label" ${HALO} x="${px(f.x(m.value) + 3)}" y="${px(f.top + 10)}" fill="#555">${escapeXml(m.label)}</text>`,
    );
  }
  spec.series.forEach((s, i) => {
    if (s.points.length === 0) return;
    const st = seriesStyle(s.style ?? i);
    const d = s.points.map((p, j) => `${j === 0 ? "M" : "L"}${px(f.x(p[0]))} ${px(f.y(p[1]))}`).join("");
    const dash = st.dash === "" ? "" : ` stroke-dasharray="${st.dash}"`;
    // Markers on a few points only, shifted per series so that overlapping lines keep theirs visible.
    const every = Math.max(1, Math.ceil(s.points.length / MAX_MARKERS));
    const shift = Math.floor((every * (i % 4)) / 4);
    const markers = s.points
      .filter((_, j) => (j - shift) % every === 0 || s.points.length === 1)
      .map((p) => markerSvg(st.marker, f.x(p[0]), f.y(p[1]), 3.5, st.color))
      .join("");
    body.push(
      `<g class="series-group" data-series="${escapeXml(s.label)}"><title>${escapeXml(s.label)}</title>` +
        `<path class="series" d="${d}" fill="none" stroke="${st.color}" stroke-width="2" stroke-linejoin="round"${dash}/>${markers}</g>`,
    );
  });
  if (spec.series.every((s) => s.points.length === 0)) {
    body.push(`<text class="no-data" x="${px((f.left + f.right) / 2)}" y="${px((f.top + f.bottom) / 2)}" text-anchor="middle" fill="#777">no data</text>`);
  }
  return f.render(body.join(""));
}

/** The x range for hand-placed labels: the data with half a step of room at each end. */
function handPlacedRange(xs: number[]): Ticks {
  const lo = xs.length === 0 ? 0 : Math.min(...xs);
  const hi = xs.length === 0 ? 1 : Math.max(...xs);
  return { min: lo - 0.5, max: hi + 0.5, step: 1, values: [] };
}
