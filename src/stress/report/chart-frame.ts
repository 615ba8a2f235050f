/**
 * The parts every chart of the report shares (docs/stress-tests.md §10.2): the <svg> element with
 * a title, a plot area with grid lines, both axes with tick labels, an axis title with its unit
 * on each axis, and a legend below. The charts (line-chart.ts, bar-chart.ts, histogram-chart.ts)
 * draw their data inside it through the frame's x and y maps.
 */
import { escapeXml } from "./escape.ts";
import { formatTick, linearScale, px, type Ticks } from "./scale.ts";
import { markerSvg, type SeriesStyle } from "./series-style.ts";

/** A tick placed by hand (e.g. a commit at its entry's position), with an optional tooltip. */
export interface TickLabel {
  value: number;
  label: string;
  title?: string;
}

/** A numeric axis (its ticks, or hand-placed labels over its range) or one band per category. */
export type XAxis = { kind: "linear"; ticks: Ticks; labels?: readonly TickLabel[] } | { kind: "band"; labels: string[] };

/** One legend entry: a line sample (dash and marker of a series), a reference line, or a bar swatch. */
export type LegendItem =
  | { kind: "series"; label: string; style: SeriesStyle }
  | { kind: "line"; label: string; color: string; dash: string; width?: number }
  | { kind: "bar"; label: string; color: string };

export interface FrameSpec {
  /** What the chart shows, as a stable id (the `data-figure` attribute). */
  figure: string;
  title: string;
  /** Axis titles, with the unit in parentheses: "time since start (s)". */
  xLabel: string;
  yLabel: string;
  x: XAxis;
  y: Ticks;
  legend: LegendItem[];
  /** Whole width, px (default 640). */
  width?: number;
  /** Height of the plot area, px (default 220). */
  plotHeight?: number;
  /** A file of its own (adds the SVG namespace); inline in HTML it is not needed. */
  standalone?: boolean;
}

export interface Frame {
  /** Data x (or band index) -> px. */
  x(v: number): number;
  y(v: number): number;
  /** Width of one band, px (band axes only; 0 otherwise). */
  band: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
  /** The finished chart with `body` drawn over the grid and under the axes' labels. */
  render(body: string): string;
}

/** Attributes that give a label drawn over data a white outline, so it stays legible on any fill. */
export const HALO = `stroke="#fff" stroke-width="3" stroke-linejoin="round" paint-order="stroke"`;

const FONT = `font-family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"`;
const CHAR_W = 6.4; // approximate width of a 11-12 px character, for layout without measuring text

export function chartFrame(spec: FrameSpec): Frame {
  const width = spec.width ?? 640;
  const plotHeight = spec.plotHeight ?? 220;
  const yTickText = spec.y.values.map((v) => formatTick(v, spec.y.step));
  const left = 28 + Math.max(...yTickText.map((t) => t.length), 1) * CHAR_W + 8;
  const right = width - 16;
  const top = 40;
  const bottom = top + plotHeight;
  const bandLabels = spec.x.kind === "band" ? spec.x.labels : [];
  const rotate = bandLabels.length > 0 && bandLabels.some((l) => l.length * CHAR_W > (right - left) / bandLabels.length - 6);
  const xTickRoom = rotate ? Math.min(160, Math.max(...bandLabels.map((l) => l.length)) * CHAR_W * 0.72) + 10 : 20;
  const xTitleY = bottom + xTickRoom + 18;

  // Legend rows below the x-axis title.
  const itemW = Math.min(right - left, Math.max(...spec.legend.map((i) => i.label.length), 4) * CHAR_W + 46);
  const perRow = Math.max(1, Math.floor((right - left) / itemW));
  const legendRows = Math.ceil(spec.legend.length / perRow);
  const legendTop = xTitleY + 14;
  const height = legendTop + legendRows * 18 + 6;

  const y = linearScale(spec.y.min, spec.y.max, bottom, top);
  let x: (v: number) => number;
  let band = 0;
  if (spec.x.kind === "linear") {
    x = linearScale(spec.x.ticks.min, spec.x.ticks.max, left, right);
  } else {
    band = (right - left) / Math.max(1, spec.x.labels.length);
    x = (i) => left + band * (i + 0.5);
  }

  const parts: string[] = [];
  // grid and y ticks
  spec.y.values.forEach((v, i) => {
    const yy = px(y(v));
    parts.push(`<line class="grid" x1="${px(left)}" y1="${yy}" x2="${px(right)}" y2="${yy}" stroke="#e3e3e3"/>`);
    parts.push(`<text class="tick y-tick" x="${px(left - 6)}" y="${yy}" dy="0.32em" text-anchor="end">${escapeXml(yTickText[i]!)}</text>`);
  });
  // x ticks
  if (spec.x.kind === "linear") {
    const t = spec.x.ticks;
    const labels: TickLabel[] = spec.x.labels?.slice() ?? t.values.map((v) => ({ value: v, label: formatTick(v, t.step) }));
    // Hand-placed labels are thinned to every k-th so that they do not overlap; grid lines stay.
    const widest = Math.max(1, ...labels.map((l) => l.label.length)) * CHAR_W + 8;
    const every = Math.max(1, Math.ceil((labels.length * widest) / (right - left)));
    labels.forEach((l, i) => {
      const xx = px(x(l.value));
      parts.push(`<line class="grid" x1="${xx}" y1="${px(top)}" x2="${xx}" y2="${px(bottom)}" stroke="#f0f0f0"/>`);
      if ((labels.length - 1 - i) % every !== 0) return;
      const tip = l.title === undefined ? "" : `<title>${escapeXml(l.title)}</title>`;
      parts.push(`<text class="tick x-tick" x="${xx}" y="${px(bottom + 15)}" text-anchor="middle">${tip}${escapeXml(l.label)}</text>`);
    });
  } else {
    spec.x.labels.forEach((label, i) => {
      const xx = x(i);
      parts.push(
        rotate
          ? `<text class="tick x-tick" transform="translate(${px(xx)},${px(bottom + 12)}) rotate(-35)" text-anchor="end">${escapeXml(label)}</text>`
          : `<text class="tick x-tick" x="${px(xx)}" y="${px(bottom + 15)}" text-anchor="middle">${escapeXml(label)}</text>`,
      );
    });
  }

  const axes =
    `<line class="axis" x1="${px(left)}" y1="${px(bottom)}" x2="${px(right)}" y2="${px(bottom)}" stroke="#333"/>` +
    `<line class="axis" x1="${px(left)}" y1="${px(top)}" x2="${px(left)}" y2="${px(bottom)}" stroke="#333"/>` +
    `<text class="axis-label x-label" x="${px((left + right) / 2)}" y="${px(xTitleY)}" text-anchor="middle" font-weight="600">${escapeXml(spec.xLabel)}</text>` +
    `<text class="axis-label y-label" transform="translate(14,${px((top + bottom) / 2)}) rotate(-90)" text-anchor="middle" font-weight="600">${escapeXml(spec.yLabel)}</text>`;

  const legend = spec.legend
    .map((item, i) => {
      const lx = left + (i % perRow) * itemW;
      const ly = legendTop + Math.floor(i / perRow) * 18;
      return `<g class="legend-item">${legendSwatch(item, lx, ly)}<text x="${px(lx + 38)}" y="${px(ly)}" dy="0.32em">${escapeXml(item.label)}</text></g>`;
    })
    .join("");

  const ns = spec.standalone === true ? ` xmlns="http://www.w3.org/2000/svg"` : "";
  const open =
    `<svg${ns} class="chart" data-figure="${escapeXml(spec.figure)}" viewBox="0 0 ${width} ${px(height)}" width="${width}" height="${px(height)}" role="img" aria-label="${escapeXml(spec.title)}" ${FONT} font-size="11">` +
    `<title>${escapeXml(spec.title)}</title>` +
    `<rect width="100%" height="100%" fill="#fff"/>` +
    `<text class="chart-title" x="${px(left)}" y="22" font-size="14" font-weight="700">${escapeXml(spec.title)}</text>`;
  return {
    x,
    y,
    band,
    left,
    right,
    top,
    bottom,
    render: (body) => `${open}<g class="grid-and-ticks" fill="#333">${parts.join("")}</g>${body}<g fill="#111">${axes}</g><g class="legend" fill="#111">${legend}</g></svg>`,
  };
}

function legendSwatch(item: LegendItem, x: number, y: number): string {
  switch (item.kind) {
    case "series": {
      const s = item.style;
      const dash = s.dash === "" ? "" : ` stroke-dasharray="${s.dash}"`;
      return `<line x1="${px(x)}" y1="${px(y)}" x2="${px(x + 30)}" y2="${px(y)}" stroke="${s.color}" stroke-width="2"${dash}/>${markerSvg(s.marker, x + 15, y, 3.5, s.color)}`;
    }
    case "line": {
      const dash = item.dash === "" ? "" : ` stroke-dasharray="${item.dash}"`;
      return `<line x1="${px(x)}" y1="${px(y)}" x2="${px(x + 30)}" y2="${px(y)}" stroke="${escapeXml(item.color)}" stroke-width="${item.width ?? 2}"${dash}/>`;
    }
    case "bar":
      return `<rect x="${px(x + 6)}" y="${px(y - 6)}" width="18" height="12" fill="${escapeXml(item.color)}" stroke="#333" stroke-width="0.8"/>`;
  }
}
