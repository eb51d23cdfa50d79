"""Rendering a trained run: python -m macro_nerf.render --workdir=WD [--view=NAME] [--focus=F].

Renders a captured view all-in-focus (pinhole), with its depth map, and refocused through the
thin-lens blur at a chosen focus distance and aperture (world units, as in eval/metrics.json), or as
a focus-pull sequence sweeping the focus from near to far. Writes PNGs under WD/render/ (or
--output) and prints a summary: "written" counts every file, focus and focus_pull_range are world
units, kappa pixels x world units.

With --path=orbit|spiral|views it renders a camera path instead: frames, colour-mapped depth and,
when imageio and imageio-ffmpeg are installed (the `video` extra), an MP4.
"""
import json
import os

from absl import app, flags

from macro_nerf import cli, parallel
from macro_nerf.export import camera_paths, renders


def render(f):
  if f.path:
    return renders.render_path(f.workdir, f.path, f.frames, f.focus, f.kappa, f.aperture,
                               f.margin, f.output, f.fps)
  return renders.render(f.workdir, f.view, f.focus, f.kappa, f.aperture, f.focus_pull, f.margin,
                        f.output)


def main(argv):
  del argv
  f = flags.FLAGS
  if f.output or os.path.isdir(f.workdir):  # else render says there is no run there
    cli.require_output(f.output or os.path.join(f.workdir, "render"), "--output")
  res = cli.run_or_exit(render, f)
  if parallel.is_main():
    if f.path and res["video"] is None:
      print(f"{res['frames']} frames written to {os.path.dirname(res['files'][0])}; no MP4 "
            "(needs imageio and imageio-ffmpeg: pip install -e \".[video]\")")
    print(json.dumps(summary(res)))


def summary(res):
  """The printed summary: a render's result, its files counted (every file written)."""
  return {k: v for k, v in res.items() if k != "files"} | {"written": len(res["files"])}


def console_main():
  flags.DEFINE_string("workdir", None, "Training workdir.")
  flags.DEFINE_string("view", None, "View name, stem or index (default: the first training view).")
  flags.DEFINE_float("focus", None, "Focus distance, world units (default: the view's learned one).")
  flags.DEFINE_float("kappa", None, "CoC scale, pixels x world units (default: the view's learned).")
  flags.DEFINE_float("aperture", 1.0, "Multiplies kappa: 2 = twice the aperture diameter.")
  flags.DEFINE_integer("focus_pull", 0, "Frames of a focus pull from near to far (0: none).")
  flags.DEFINE_integer("margin", 12, "Pixels rendered beyond the frame; larger radii are clipped.")
  flags.DEFINE_string("output", None, "Output folder (default WD/render).")
  flags.DEFINE_enum("path", None, list(camera_paths.PATHS), "Render a camera path instead of one view: orbit "
                    "(around the look-at point), spiral (LLFF-style, around the mean pose) or "
                    "views (the captured views). Writes OUT/<path>/frame_XXXX.png, "
                    "depth_XXXX.png and OUT/<path>.mp4 (with the video extra).")
  flags.DEFINE_integer("frames", 0, "Frames of the path (0: 60 for orbit and spiral, every "
                       "captured view for views).")
  flags.DEFINE_integer("fps", 30, "Frames per second of the MP4.")
  parallel.define_flags()
  flags.mark_flags_as_required(["workdir"])
  app.run(main, flags_parser=cli.flags_parser(__doc__))


if __name__ == "__main__":
  console_main()
