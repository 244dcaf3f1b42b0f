// A horizontal bar chart as a small hand-written SVG (no charting dependency): one bar per case at its median,
// the interquartile range as a darker band and min–max as a whisker, ours in blue and the peers in grey.
import type { Summary } from './stats.js';

export interface ChartRow {
  label: string;
  summary: Summary;
  ours: boolean;
}

export interface Chart {
  title: string;
  /** Axis unit, e.g. "s" or "MiB". */
  unit: string;
  rows: ChartRow[];
  /** One line under the title (what the bars are, the machine's load). */
  subtitle?: string;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceStep(max: number): number {
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  return (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
}

export function barChart(chart: Chart): string {
  const labelW = 300;
  const plotW = 440;
  const rowH = 26;
  const top = chart.subtitle ? 52 : 36;
  const height = top + chart.rows.length * rowH + 34;
  const width = labelW + plotW + 80;
  const max = Math.max(1e-9, ...chart.rows.map((r) => (Number.isFinite(r.summary.max) ? r.summary.max : 0)));
  const step = niceStep(max);
  const axisMax = Math.ceil(max / step) * step;
  const x = (v: number) => labelW + (Math.max(0, v) / axisMax) * plotW;
  const digits = step < 0.1 ? 3 : step < 1 ? 2 : step < 10 ? 1 : 0;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${esc(chart.title)}</text>`,
  ];
  if (chart.subtitle) out.push(`<text x="10" y="38" fill="#555">${esc(chart.subtitle)}</text>`);
  for (let v = 0; v <= axisMax + step / 2; v += step) {
    const px = x(v).toFixed(1);
    out.push(
      `<line x1="${px}" y1="${top - 4}" x2="${px}" y2="${top + chart.rows.length * rowH}" stroke="#e3e3e3"/>`,
      `<text x="${px}" y="${top + chart.rows.length * rowH + 16}" text-anchor="middle" fill="#555">${v.toFixed(digits)}</text>`,
    );
  }
  out.push(
    `<text x="${labelW + plotW / 2}" y="${height - 4}" text-anchor="middle" fill="#555">${esc(chart.unit)} (bar: median; band: interquartile range; whisker: min–max)</text>`,
  );
  chart.rows.forEach((row, i) => {
    const y = top + i * rowH;
    const s = row.summary;
    const fill = row.ours ? '#4a7bd0' : '#a9a9a9';
    const band = row.ours ? '#2a4f94' : '#6f6f6f';
    const mid = y + rowH / 2;
    out.push(`<text x="${labelW - 8}" y="${mid + 4}" text-anchor="end">${esc(row.label)}</text>`);
    if (!Number.isFinite(s.median)) return;
    out.push(
      `<rect x="${labelW}" y="${y + 5}" width="${(x(s.median) - labelW).toFixed(1)}" height="${rowH - 10}" fill="${fill}"/>`,
      `<rect x="${x(s.q1).toFixed(1)}" y="${y + 9}" width="${Math.max(1, x(s.q3) - x(s.q1)).toFixed(1)}" height="${rowH - 18}" fill="${band}"/>`,
      `<line x1="${x(s.min).toFixed(1)}" y1="${mid}" x2="${x(s.max).toFixed(1)}" y2="${mid}" stroke="#222"/>`,
      `<line x1="${x(s.min).toFixed(1)}" y1="${mid - 4}" x2="${x(s.min).toFixed(1)}" y2="${mid + 4}" stroke="#222"/>`,
      `<line x1="${x(s.max).toFixed(1)}" y1="${mid - 4}" x2="${x(s.max).toFixed(1)}" y2="${mid + 4}" stroke="#222"/>`,
      `<text x="${(x(s.max) + 6).toFixed(1)}" y="${mid + 4}" fill="#222">${s.median.toFixed(digits + 1)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
