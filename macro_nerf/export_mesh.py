"""Mesh export: python -m macro_nerf.export_mesh --workdir=WD --output=mesh.{ply,obj,glb}.

The trained field's density on a grid, marching cubes at --threshold, hidden surfaces and small
pieces dropped, vertex colours from the views, in the input's world units. How the bounds, colours
and culling work: macro_nerf/export/mesh_export.py.
"""
import json

from absl import app, flags

from macro_nerf import cli, parallel
from macro_nerf.export import mesh_export


def export(f):
  crop_min = mesh_export.parse_point(f.crop_min, "crop_min")
  crop_max = mesh_export.parse_point(f.crop_max, "crop_max")
  return mesh_export.export(f.workdir, f.output, f.resolution, f.threshold, crop_min, crop_max,
                            f.min_component, f.chunk, cull_hidden=f.cull_hidden,
                            keep_backs=f.keep_backs, ground_band=f.ground_band,
                            bounds_views=f.bounds_views, simplify=f.simplify)


def main(argv):
  del argv
  cli.require_output(flags.FLAGS.output, "--output", "file")  # `~` expanded by cli
  res = cli.run_or_exit(export, flags.FLAGS)
  if parallel.is_main():
    print(json.dumps(res))


def console_main():
  flags.DEFINE_string("workdir", None, "Training workdir.")
  flags.DEFINE_string("output", None, "Mesh file: .ply, .obj or .glb (vertex colours, world units).")
  flags.DEFINE_integer("resolution", 256, "Grid voxels along the longest side of the box.")
  flags.DEFINE_float("threshold", None, "Density level of the surface (per normalised unit; the "
                     f"frusta fill [-1, 1]^3). Default {mesh_export.DEFAULT_THRESHOLD:g}, or half "
                     "the field's coarse maximum where that is below twice it (short runs).")
  flags.DEFINE_string("crop_min", None, "x,y,z: lower corner of a crop box, world units "
                      "(-inf allowed), e.g. --crop_min=-inf,-inf,0.02 to cut a ground at z = 0.")
  flags.DEFINE_string("crop_max", None, "x,y,z: upper corner of a crop box, world units.")
  flags.DEFINE_float("min_component", 0.01, "Drop connected pieces with fewer than this fraction "
                     "of the faces (0: keep all).")
  flags.DEFINE_integer("chunk", 1 << 16, "Points per field query.")
  flags.DEFINE_float("bounds_views", 0.5, "The default box holds the density that at least this "
                     "fraction of the cameras see (0: any camera).")
  flags.DEFINE_bool("cull_hidden", True, "Drop surfaces no training camera sees (behind what its "
                    "rendered depth shows): the unconstrained insides and undersides.")
  flags.DEFINE_float("ground_band", 0.1, "With a finite --crop_min z (the ground's side), drop "
                     "faces that face up (within 45 degrees of +z) in this fraction of the box's "
                     "height above its floor: ground bumps and fillets the crop leaves (0: off).")
  flags.DEFINE_bool("keep_backs", True, "With --cull_hidden, keep hidden surfaces that face away "
                    "from every camera (the backs of objects, which no photo shows).")
  flags.DEFINE_float("simplify", 1.0, "Keep about this fraction of the faces (quadric decimation; "
                     "1: off), e.g. 0.1 for a light mesh to share.")
  parallel.define_flags()
  flags.mark_flags_as_required(["workdir", "output"])
  app.run(main, flags_parser=cli.flags_parser(__doc__))


if __name__ == "__main__":
  console_main()
