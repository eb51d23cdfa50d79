"""Sweep results -> a Markdown report and plots.

  python experiments/report.py ROOT/results.csv [--metrics=test_psnr,train_deblur_psnr] [--output=DIR]

For every swept key (the columns between `run` and the metrics) it writes a table of each metric's
mean per value of that key, and with matplotlib (optional extra `[plots]`) one PNG per key and
metric: the metric against the key's values, one line per combination of the other keys.
"""
import argparse
import csv
import json
import os
import sys
from collections import defaultdict

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from macro_nerf.training.sweep import METRIC_COLUMNS  # noqa: E402


def read(path):
  if not os.path.isfile(path):
    sys.exit(f"error: {path}: results table does not exist")
  with open(path) as f:
    rows = list(csv.DictReader(f))
  if not rows:
    sys.exit(f"error: {path}: no rows")
  cols = list(rows[0])
  keys = [c for c in cols if c not in ("run", "status") and c not in METRIC_COLUMNS]
  return [r for r in rows if r.get("status") == "done"], keys


def number(v):
  try:
    return float(v)
  except (TypeError, ValueError):
    return None


def _sort_key(v):
  x = number(v)
  return (0, x, "") if x is not None else (1, 0.0, v)


def summarise(rows, keys, metrics):
  """{key: {value: {metric: mean}}} over the finished runs."""
  out = {}
  for k in keys:
    groups = defaultdict(lambda: defaultdict(list))
    for r in rows:
      for m in metrics:
        x = number(r.get(m))
        if x is not None:
          groups[r[k]][m].append(x)
    out[k] = {v: {m: sum(xs) / len(xs) for m, xs in g.items()}
              for v, g in sorted(groups.items(), key=lambda kv: _sort_key(kv[0]))}
  return out


def markdown(summary, metrics, n_rows, source):
  lines = ["# Sweep report", "", f"{n_rows} finished runs from `{source}`.", ""]
  for k, by_value in summary.items():
    lines += [f"## {k}", "", "| " + " | ".join([k] + metrics) + " |",
              "|" + "---|" * (len(metrics) + 1)]
    for v, ms in by_value.items():
      lines.append("| " + " | ".join([v] + [f"{ms[m]:.4g}" if m in ms else "" for m in metrics])
                   + " |")
    lines.append("")
  return "\n".join(lines)


def plots(rows, keys, metrics, out_dir):
  try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
  except ImportError:
    print("matplotlib not installed (pip install -e '.[plots]'): tables only", file=sys.stderr)
    return []
  written = []
  for k in keys:
    others = [o for o in keys if o != k]
    for m in metrics:
      lines = defaultdict(list)
      for r in rows:
        y = number(r.get(m))
        if y is not None:
          lines[tuple(r[o] for o in others)].append((r[k], y))
      if not lines:
        continue
      fig, ax = plt.subplots(figsize=(5, 3.5))
      numeric = all(number(v) is not None for pts in lines.values() for v, _ in pts)
      for label, pts in sorted(lines.items()):
        pts.sort(key=lambda p: _sort_key(p[0]))
        xs = [number(v) if numeric else v for v, _ in pts]
        ax.plot(xs, [y for _, y in pts], "o-",
                label=", ".join(f"{o.split('.')[-1]}={v}" for o, v in zip(others, label)) or None)
      ax.set_xlabel(k)
      ax.set_ylabel(m)
      ax.grid(alpha=0.3)
      if others:
        ax.legend(fontsize=7)
      fig.tight_layout()
      path = os.path.join(out_dir, f"{k.replace('.', '_')}__{m}.png")
      fig.savefig(path, dpi=110)
      plt.close(fig)
      written.append(path)
  return written


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("results")
  p.add_argument("--metrics", default="test_psnr,test_ssim,train_deblur_psnr,focus_err_median,"
                 "steps_per_sec,wall_s")
  p.add_argument("--output", default=None, help="default: beside the results table")
  a = p.parse_args()
  rows, keys = read(a.results)
  metrics = [m for m in a.metrics.split(",") if any(number(r.get(m)) is not None for r in rows)]
  out_dir = a.output or os.path.join(os.path.dirname(os.path.abspath(a.results)), "report")
  os.makedirs(out_dir, exist_ok=True)
  summary = summarise(rows, keys, metrics)
  with open(os.path.join(out_dir, "report.md"), "w") as f:
    f.write(markdown(summary, metrics, len(rows), a.results))
  written = plots(rows, keys, metrics, out_dir)
  print(json.dumps({"report": os.path.join(out_dir, "report.md"), "plots": len(written)}))


if __name__ == "__main__":
  main()
