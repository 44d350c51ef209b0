/**
 * A grouped bar chart as a standalone SVG (no dependencies): one panel per pipeline depth, each
 * with its own scale, groups of bars (one per test), one bar per series (server), labelled with
 * its value. Series keep their colour across panels.
 */

export interface ChartBar {
  readonly series: string;
  readonly value: number;
}

export interface ChartGroup {
  readonly label: string;
  readonly bars: readonly ChartBar[];
}

export interface ChartPanel {
  readonly title: string;
  readonly groups: readonly ChartGroup[];
}

export interface Chart {
  readonly title: string;
  readonly panels: readonly ChartPanel[];
  readonly series: readonly string[];
}

/** Redis-like reds for redis-server, blues for the single clone, green for the cluster. */
const palette = ["#b71c1c", "#e53935", "#ef9a9a", "#0d47a1", "#1e88e5", "#90caf9", "#2e7d32", "#6a1b9a", "#ff8f00"];

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** 1234567 → "1.23M", 45678 → "45.7k". */
export function shortNumber(value: number): string {
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
  if (value >= 1e4) return `${(value / 1e3).toFixed(1)}k`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(2)}k`;
  return String(Math.round(value));
}

/** A round axis maximum at or above `value`. */
function niceMax(value: number): number {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

export function barChart(chart: Chart): string {
  const barWidth = 22;
  const barGap = 4;
  const groupGap = 28;
  const panelGap = 60;
  const plotHeight = 260;
  const top = 56;
  const left = 64;
  const colour = (series: string): string => palette[chart.series.indexOf(series) % palette.length] ?? "#777";
  const panelWidths = chart.panels.map((panel) =>
    panel.groups.reduce((width, group) => width + group.bars.length * (barWidth + barGap) - barGap + groupGap, groupGap),
  );
  const width = left + panelWidths.reduce((sum, panelWidth) => sum + panelWidth + panelGap, 0);
  const legendTop = top + plotHeight + 48;
  const height = legendTop + 18 * Math.ceil(chart.series.length / 3) + 16;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`);
  parts.push(`<rect width="100%" height="100%" fill="white"/>`);
  parts.push(`<text x="${left}" y="20" font-size="13" font-weight="bold">${escape(chart.title)}</text>`);
  let x0 = left;
  chart.panels.forEach((panel, panelIndex) => {
    const panelWidth = panelWidths[panelIndex] ?? 0;
    const max = niceMax(Math.max(0, ...panel.groups.flatMap((group) => group.bars.map((bar) => bar.value))));
    const y = (value: number): number => top + plotHeight - (value / max) * plotHeight;
    parts.push(`<text x="${x0 + panelWidth / 2}" y="${top - 12}" text-anchor="middle" font-size="12" font-weight="bold">${escape(panel.title)}</text>`);
    for (let tick = 0; tick <= 4; tick++) {
      const value = (max * tick) / 4;
      parts.push(`<line x1="${x0}" x2="${x0 + panelWidth}" y1="${y(value)}" y2="${y(value)}" stroke="#ddd"/>`);
      parts.push(`<text x="${x0 - 4}" y="${y(value) + 4}" text-anchor="end" fill="#555">${shortNumber(value)}</text>`);
    }
    let x = x0 + groupGap;
    for (const group of panel.groups) {
      const groupWidth = group.bars.length * (barWidth + barGap) - barGap;
      for (const bar of group.bars) {
        const barTop = y(bar.value);
        parts.push(`<rect x="${x}" y="${barTop}" width="${barWidth}" height="${top + plotHeight - barTop}" fill="${colour(bar.series)}"><title>${escape(`${bar.series} ${group.label}: ${Math.round(bar.value)} requests/s`)}</title></rect>`);
        parts.push(`<text transform="translate(${x + barWidth / 2 + 4},${barTop - 4}) rotate(-90)" fill="#333" font-size="10">${shortNumber(bar.value)}</text>`);
        x += barWidth + barGap;
      }
      parts.push(`<text x="${x - barGap - groupWidth / 2}" y="${top + plotHeight + 18}" text-anchor="middle" font-size="12">${escape(group.label)}</text>`);
      x += groupGap - barGap;
    }
    parts.push(`<line x1="${x0}" x2="${x0 + panelWidth}" y1="${top + plotHeight}" y2="${top + plotHeight}" stroke="#333"/>`);
    x0 += panelWidth + panelGap;
  });
  chart.series.forEach((series, index) => {
    const column = index % 3;
    const row = Math.floor(index / 3);
    const lx = left + column * 220;
    const ly = legendTop + row * 18;
    parts.push(`<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${colour(series)}"/>`);
    parts.push(`<text x="${lx + 18}" y="${ly}">${escape(series)}</text>`);
  });
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}
