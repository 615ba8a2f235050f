/**
 * How the report tells series apart (docs/stress-tests.md §10.2): hue, dash pattern and marker
 * shape all differ from one series to the next, so that lines stay distinct printed in grey
 * scale or seen with a colour-vision deficiency. The hues are the Okabe–Ito palette's darker
 * ones (dark enough for a thin line on white), ordered so neighbours differ in lightness.
 */
import { escapeXml } from "./escape.ts";
import { px } from "./scale.ts";

export type MarkerShape = "circle" | "square" | "triangle" | "diamond" | "cross" | "triangle-down" | "x" | "pentagon";

export interface SeriesStyle {
  color: string;
  /** SVG stroke-dasharray, "" for a solid line. */
  dash: string;
  marker: MarkerShape;
}

const COLORS = ["#0072B2", "#D55E00", "#009E73", "#000000", "#CC79A7", "#E69F00", "#56B4E9", "#7F4F24"];
const DASHES = ["", "8 4", "2 3", "10 3 2 3", "5 5", "1 2", "12 4 4 4", "3 6"];
const MARKERS: MarkerShape[] = ["circle", "square", "triangle", "diamond", "cross", "triangle-down", "x", "pentagon"];

/** The style of series number `i` (0-based); after 8 series the colours repeat with other dashes. */
export function seriesStyle(i: number): SeriesStyle {
  const n = COLORS.length;
  const k = ((i % (n * n)) + n * n) % (n * n);
  return { color: COLORS[k % n]!, dash: DASHES[(k + Math.floor(k / n)) % n]!, marker: MARKERS[k % n]! };
}

/** A marker of `shape` centred on (x, y), `r` its half-size. */
export function markerSvg(shape: MarkerShape, x: number, y: number, r: number, color: string): string {
  const fill = `fill="${escapeXml(color)}"`;
  const stroke = `stroke="${escapeXml(color)}" stroke-width="1.6" fill="none"`;
  const poly = (pts: [number, number][], attrs: string) => `<polygon points="${pts.map(([a, b]) => `${px(a)},${px(b)}`).join(" ")}" ${attrs}/>`;
  switch (shape) {
    case "circle":
      return `<circle cx="${px(x)}" cy="${px(y)}" r="${px(r)}" ${fill}/>`;
    case "square":
      return `<rect x="${px(x - r)}" y="${px(y - r)}" width="${px(2 * r)}" height="${px(2 * r)}" ${fill}/>`;
    case "triangle":
      return poly([[x, y - r * 1.2], [x + r * 1.1, y + r * 0.8], [x - r * 1.1, y + r * 0.8]], fill);
    case "triangle-down":
      return poly([[x, y + r * 1.2], [x + r * 1.1, y - r * 0.8], [x - r * 1.1, y - r * 0.8]], stroke);
    case "diamond":
      return poly([[x, y - r * 1.3], [x + r, y], [x, y + r * 1.3], [x - r, y]], fill);
    case "pentagon": {
      const pts: [number, number][] = [];
      for (let i = 0; i < 5; i++) pts.push([x + r * 1.15 * Math.sin((i * 2 * Math.PI) / 5), y - r * 1.15 * Math.cos((i * 2 * Math.PI) / 5)]);
      return poly(pts, stroke);
    }
    case "cross":
      return `<path d="M${px(x - r)} ${px(y)}H${px(x + r)}M${px(x)} ${px(y - r)}V${px(y + r)}" ${stroke}/>`;
    case "x":
      return `<path d="M${px(x - r)} ${px(y - r)}L${px(x + r)} ${px(y + r)}M${px(x - r)} ${px(y + r)}L${px(x + r)} ${px(y - r)}" ${stroke}/>`;
  }
}
