/** Small SVG charts for the dashboard; attributes only (no inline styles: the page's CSP forbids them). */

const SVG = 'http://www.w3.org/2000/svg';

function svgEl(tag: string, attrs: Record<string, string | number>): SVGElement {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  return node;
}

/** A line chart of `series` (each a list of values, oldest first) scaled to `max`, with a y label. */
export function lineChart(
  series: readonly { readonly values: readonly number[]; readonly className: string }[],
  max: number,
  label: (value: number) => string,
  width = 1200,
  height = 170,
): SVGElement {
  const svg = svgEl('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img' });
  const top = Math.max(max, 1);
  for (const fraction of [0, 0.5, 1]) {
    const y = height - 18 - fraction * (height - 30);
    svg.append(svgEl('line', { x1: 44, x2: width, y1: y, y2: y, class: 'grid' }));
    const text = svgEl('text', { x: 0, y: y + 4, class: 'axis' });
    text.textContent = label(top * fraction);
    svg.append(text);
  }
  for (const { values, className } of series) {
    if (values.length < 2) continue;
    const step = (width - 46) / (values.length - 1);
    const points = values.map(
      (v, i) => `${(46 + i * step).toFixed(1)},${(height - 18 - (v / top) * (height - 30)).toFixed(1)}`,
    );
    svg.append(svgEl('polyline', { points: points.join(' '), class: `line ${className}` }));
  }
  return svg;
}

/** Horizontal bars, one per row, scaled to the largest value, with the value's text at the end. */
export function barChart(
  rows: readonly { readonly label: string; readonly value: number | null; readonly text: string }[],
  className: string,
  width = 360,
): SVGElement {
  const rowHeight = 26;
  const height = rows.length * rowHeight + 4;
  const svg = svgEl('svg', { viewBox: `0 0 ${width} ${height}`, class: `bars ${className}`, role: 'img' });
  const max = Math.max(...rows.map((r) => r.value ?? 0), 1e-12);
  rows.forEach((row, i) => {
    const y = i * rowHeight + 4;
    const name = svgEl('text', { x: 0, y: y + 15, class: 'label' });
    name.textContent = row.label;
    const barWidth = ((row.value ?? 0) / max) * (width - 230);
    const bar = svgEl('rect', {
      x: 150,
      y,
      width: Math.max(barWidth, 1),
      height: rowHeight - 8,
      rx: 3,
      class: 'bar',
    });
    const value = svgEl('text', { x: 156 + barWidth, y: y + 15, class: 'value' });
    value.textContent = row.text;
    svg.append(name, bar, value);
  });
  return svg;
}
