import type { PasskeyReport } from "./run.ts";

/**
 * A small SVG line chart of top-1 accuracy against context length (log2 axis), one line per (variant, RoPE base)
 * and a dashed line for the full-text reference. SVG keeps it dependency-free and diffable; browsers render it.
 */
export function passkeyPlotSvg(report: PasskeyReport, title = "Personalised passkey retrieval (top-1)"): string {
  const width = 640;
  const height = 400;
  const margin = { left: 56, right: 180, top: 36, bottom: 48 };
  const lengths = [...new Set([...report.results, ...report.fulltext].map((r) => r.length))].sort((a, b) => a - b);
  const logs = lengths.map((l) => Math.log2(l));
  const minLog = Math.min(...logs);
  const span = Math.max(1, Math.max(...logs) - minLog);
  const x = (length: number) =>
    margin.left + ((Math.log2(length) - minLog) / span) * (width - margin.left - margin.right);
  const y = (accuracy: number) => margin.top + (1 - accuracy) * (height - margin.top - margin.bottom);
  const colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];

  const series: Array<{ label: string; points: Array<[number, number]>; dashed: boolean }> = [];
  for (const key of new Set(report.results.map((r) => `${r.variant}|${r.rope_base}`))) {
    const [variant, base] = key.split("|") as [string, string];
    const points = report.results
      .filter((r) => r.variant === variant && String(r.rope_base) === base)
      .sort((a, b) => a.length - b.length)
      .map((r): [number, number] => [r.length, r.accuracy]);
    series.push({ label: `${variant}, RoPE base ${Number(base).toExponential(0)}`, points, dashed: false });
  }
  for (const variant of new Set(report.fulltext.map((r) => r.variant))) {
    const points = report.fulltext
      .filter((r) => r.variant === variant)
      .sort((a, b) => a.length - b.length)
      .map((r): [number, number] => [r.length, r.accuracy]);
    series.push({ label: `${variant}, full-text (BM25)`, points, dashed: true });
  }

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${margin.left}" y="20" font-size="14">${escapeXml(title)}</text>`,
  ];
  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    parts.push(
      `<line x1="${margin.left}" x2="${width - margin.right}" y1="${y(tick)}" y2="${y(tick)}" stroke="#ddd"/>`,
      `<text x="${margin.left - 8}" y="${y(tick) + 4}" text-anchor="end">${tick.toFixed(2)}</text>`,
    );
  }
  for (const length of lengths) {
    const label = length >= 1024 ? `${length / 1024}k` : String(length);
    parts.push(`<text x="${x(length)}" y="${height - margin.bottom + 18}" text-anchor="middle">${label}</text>`);
  }
  parts.push(
    `<text x="${(margin.left + width - margin.right) / 2}" y="${height - 10}" text-anchor="middle">context length (tokens)</text>`,
  );
  series.forEach((s, i) => {
    const color = colors[i % colors.length];
    const d = s.points.map(([l, a], j) => `${j === 0 ? "M" : "L"}${x(l).toFixed(1)},${y(a).toFixed(1)}`).join(" ");
    parts.push(
      `<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ""}/>`,
    );
    for (const [l, a] of s.points) parts.push(`<circle cx="${x(l)}" cy="${y(a)}" r="3" fill="${color}"/>`);
    const ly = margin.top + 16 * i;
    parts.push(
      `<line x1="${width - margin.right + 12}" x2="${width - margin.right + 32}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ""}/>`,
      `<text x="${width - margin.right + 36}" y="${ly + 4}">${escapeXml(s.label)}</text>`,
    );
  });
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;" })[c]!);
}
