// Time charts on uPlot (vendored, loaded before the modules as the global `uPlot`), in the theme's colours.

const charts = new Map(); // container -> { plot, spec }

function colour(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function axis() {
  const stroke = colour("--muted");
  const grid = colour("--line");
  return { stroke, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
}

function options(container, spec) {
  const series = spec.series.map((s) => {
    const stroke = colour(s.colour);
    const line = { label: s.label, stroke, width: 2, points: { show: spec.points ?? false } };
    if (spec.bars) Object.assign(line, { fill: stroke, paths: uPlot.paths.bars({ size: [0.6, 60] }), points: { show: false } });
    return line;
  });
  return {
    width: Math.max(260, container.clientWidth - 4),
    height: spec.height || 220,
    series: [{ label: spec.xLabel || "Day", value: spec.xValue }, ...series],
    axes: [{ ...axis(), values: spec.xValues }, { ...axis(), size: 56 }],
    scales: { x: { time: spec.time ?? true, range: spec.xRange }, y: { range: spec.yRange } },
    legend: { show: spec.series.length > 1 || spec.legend === true },
    cursor: { drag: { x: false, y: false } },
  };
}

/**
 * Draw (or redraw) a chart in `container`: `x` (unix seconds) and, per series in `spec.series`
 * ({label, colour: a CSS variable}), its values. `spec.bars` draws bars.
 */
export function plot(container, spec, x, ...values) {
  const data = [x, ...values];
  const known = charts.get(container);
  if (known && known.spec.series.length === spec.series.length && known.spec.bars === spec.bars) {
    known.plot.setData(data);
    known.spec = spec;
    return;
  }
  if (known) known.plot.destroy();
  container.replaceChildren();
  charts.set(container, { plot: new uPlot(options(container, spec), data, container), spec });
}

/** Redraw every chart in the current theme's colours (after the theme changed). */
export function repaint() {
  for (const [container, known] of charts) {
    const data = known.plot.data;
    known.plot.destroy();
    container.replaceChildren();
    known.plot = new uPlot(options(container, known.spec), data, container);
  }
}

/** Forget the charts (on sign-out). */
export function dropCharts() {
  for (const [container, known] of charts) {
    known.plot.destroy();
    container.replaceChildren();
  }
  charts.clear();
}

const resized = new ResizeObserver((entries) => {
  for (const entry of entries) {
    const known = charts.get(entry.target);
    const width = Math.max(260, entry.target.clientWidth - 4);
    if (known && Math.abs(known.plot.width - width) > 8) known.plot.setSize({ width, height: known.plot.height });
  }
});

/** Follow the width of `container` (the charts in it are redrawn to fit). */
export function fit(container) {
  resized.observe(container);
}
