"""Small inline SVG line plots for the report: no plotting library, no network, any browser."""
import html
import math

import numpy as np

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def _ticks(lo, hi, n=5):
  """About n round tick values covering lo..hi."""
  if not hi > lo:
    hi = lo + (abs(lo) or 1.0)
  raw = (hi - lo) / n
  mag = 10 ** math.floor(math.log10(raw))
  step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=10 * mag)
  start = math.floor(lo / step) * step
  return [start + k * step for k in range(int(math.ceil((hi - start) / step)) + 1)]


def _fmt(v):
  return f"{v:.4g}"


def line_plot(series, title, xlabel, ylabel, width=460, height=260, xticks_labels=None,
              markers=True):
  """An SVG line plot.

  Args:
    series: [(label, xs, ys)]; NaN / None y values leave gaps.
    xticks_labels: optional {x: label} shown instead of numeric x ticks (e.g. photo names).
  Returns:
    the SVG element as a string.
  """
  left, right, top, bottom = 62, 12, 28, 44
  pw, ph = width - left - right, height - top - bottom
  xs_all = [float(x) for _, xs, _ in series for x in xs]
  ys_all = [float(y) for _, _, ys in series for y in ys if y is not None and np.isfinite(y)]
  if not xs_all or not ys_all:
    return ""
  x0, x1 = min(xs_all), max(xs_all)
  if x1 == x0:
    x0, x1 = x0 - 0.5, x1 + 0.5
  yt = _ticks(min(ys_all), max(ys_all))
  y0, y1 = yt[0], yt[-1]
  sx = lambda x: left + (float(x) - x0) / (x1 - x0) * pw
  sy = lambda y: top + (1.0 - (float(y) - y0) / (y1 - y0)) * ph
  out = [f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
         f'viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(title)}">',
         f'<text x="{left}" y="16" class="ptitle">{html.escape(title)}</text>']
  for y in yt:
    out.append(f'<line x1="{left}" x2="{left + pw}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" '
               'class="grid"/>')
    out.append(f'<text x="{left - 6}" y="{sy(y) + 4:.1f}" text-anchor="end">{_fmt(y)}</text>')
  if xticks_labels:
    keys = sorted(xticks_labels)
    every = max(1, len(keys) // 8)
    for x in keys[::every]:
      out.append(f'<text x="{sx(x):.1f}" y="{top + ph + 16}" text-anchor="middle">'
                 f'{html.escape(str(xticks_labels[x]))}</text>')
  else:
    for x in _ticks(x0, x1):
      if x0 <= x <= x1:
        out.append(f'<text x="{sx(x):.1f}" y="{top + ph + 16}" text-anchor="middle">{_fmt(x)}'
                   '</text>')
  out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" class="frame"/>')
  out.append(f'<text x="{left + pw / 2:.1f}" y="{height - 6}" text-anchor="middle">'
             f'{html.escape(xlabel)}</text>')
  out.append(f'<text transform="translate(14 {top + ph / 2:.1f}) rotate(-90)" '
             f'text-anchor="middle">{html.escape(ylabel)}</text>')
  for k, (label, xs, ys) in enumerate(series):
    color = COLORS[k % len(COLORS)]
    runs, cur = [], []
    for x, y in zip(xs, ys):
      if y is None or not np.isfinite(y):
        if cur:
          runs.append(cur)
        cur = []
      else:
        cur.append(f"{sx(x):.1f},{sy(y):.1f}")
    if cur:
      runs.append(cur)
    for r in runs:
      out.append(f'<polyline points="{" ".join(r)}" fill="none" stroke="{color}" '
                 'stroke-width="1.5"/>')
      if markers and len(xs) <= 80:
        out += [f'<circle cx="{p.split(",")[0]}" cy="{p.split(",")[1]}" r="2.5" fill="{color}"/>'
                for p in r]
    out.append(f'<text x="{left + pw - 4}" y="{top + 14 + 14 * k}" text-anchor="end" '
               f'fill="{color}">{html.escape(label)}</text>')
  out.append("</svg>")
  return "".join(out)
