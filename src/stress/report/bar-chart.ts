/**
 * A bar chart as an SVG string with an optional ceiling per bar (docs/stress-tests.md §10.2): the
 * comparison table's Orch/sec, one bar per provider x config, and the worker ceiling
 * 1000·W/(T·d) of that config (§5.2) drawn as a dashed line across its bar, so the distance to
 * the ceiling is read at a glance. A pure function of its data.
 */
import { chartFrame, HALO, type LegendItem } from "./chart-frame.ts";
import { escapeXml } from "./escape.ts";
import { niceTicks, px } from "./scale.ts";
import { seriesStyle } from "./series-style.ts";

export interface Bar {
  label: string;
  value: number;
  /** The bar's bound, drawn as a line across it; null or absent when there is none. */
  ceiling?: number | null;
  /** Style index (seriesStyle) for the fill; default the bar's position. */
  style?: number;
}

export interface BarChartSpec {
  figure: string;
  title: string;
  xLabel: string;
  yLabel: string;
  bars: readonly Bar[];
  /** Legend text of the bars and of the ceiling line. */
  barLegend: string;
  ceilingLegend?: string;
  /** Decimals of the value labels (default 2). */
  decimals?: number;
  width?: number;
  plotHeight?: number;
  standalone?: boolean;
}

const CEILING_DASH = "6 3";

export function barChart(spec: BarChartSpec): string {
  const ceilings = spec.bars.map((b) => (b.ceiling !== undefined && b.ceiling !== null && Number.isFinite(b.ceiling) ? b.ceiling : null));
  const top = Math.max(1, ...spec.bars.map((b) => b.value), ...ceilings.map((c) => c ?? 0));
  const yTicks = niceTicks(0, top * 1.08, 5);
  const legend: LegendItem[] = [{ kind: "bar", label: spec.barLegend, color: "#9bbcd8" }];
  if (ceilings.some((c) => c !== null)) legend.push({ kind: "line", label: spec.ceilingLegend ?? "ceiling", color: "#111", dash: CEILING_DASH, width: 2.5 });
  const f = chartFrame({ ...spec, x: { kind: "band", labels: spec.bars.map((b) => b.label) }, y: yTicks, legend });
  const decimals = spec.decimals ?? 2;
  const barW = Math.min(70, f.band * 0.62);
  const body = spec.bars.map((b, i) => {
    const st = seriesStyle(b.style ?? i);
    const cx = f.x(i);
    const y = f.y(Math.max(0, b.value));
    const h = f.bottom - y;
    const c = ceilings[i];
    const share = c !== null && c !== undefined && c > 0 ? ` (${Math.round((b.value / c) * 100)}%)` : "";
    const text = `${b.value.toFixed(decimals)}${share}`;
    const inside = h > 20;
    let out =
      `<g class="bar-group" data-bar="${escapeXml(b.label)}"><title>${escapeXml(`${b.label}: ${text}`)}</title>` +
      `<rect class="bar" data-value="${b.value}" x="${px(cx - barW / 2)}" y="${px(y)}" width="${px(barW)}" height="${px(h)}" fill="${st.color}" fill-opacity="0.45" stroke="${st.color}" stroke-width="1.5"/>` +
      `<text class="bar-value" ${HALO} x="${px(cx)}" y="${px(inside ? y + 13 : y - 4)}" text-anchor="middle" fill="#111" font-weight="600">${escapeXml(text)}</text>`;
    if (c !== null && c !== undefined) {
      const cy = px(f.y(c));
      out +=
        `<line class="ceiling" data-value="${c}" x1="${px(cx - f.band * 0.45)}" y1="${cy}" x2="${px(cx + f.band * 0.45)}" y2="${cy}" stroke="#111" stroke-width="2.5" stroke-dasharray="${CEILING_DASH}"/>` +
        `<text class="ceiling-label" ${HALO} x="${px(cx)}" y="${px(f.y(c) - 5)}" text-anchor="middle" fill="#111">${escapeXml(`ceiling ${c.toFixed(decimals)}`)}</text>`;
    }
    return `${out}</g>`;
  });
  return f.render(body.join(""));
}
