"""The synthetic scene's objects as a triangle mesh (object.ply), for Chamfer scoring of meshes.

Spheres are cube-spheres (a subdivided cube's integer lattice pushed onto the sphere) and boxes
are cubes, each closed and wound outward; the ground and the backdrop are left out, as in the
development scenes. Vertices are in world units, in the frame of poses_bounds.npy and
transforms.json. Pure numpy; written as ascii PLY with float64 vertices (exact round trip).
"""
import numpy as np


def cube_lattice(m):
  """Surface of the cube [-m, m]^3 split into m x m quads per face: integer vertices (V, 3) and
  outward-wound triangles (F, 3), seams merged (the lattice is exact, so np.unique is)."""
  k = 2 * np.arange(m + 1) - m
  verts, faces = [], []
  for a in range(3):
    b, c = (a + 1) % 3, (a + 2) % 3  # e_b x e_c = e_a: counter-clockwise seen from +a
    for sign in (1, -1):
      g = np.zeros((m + 1, m + 1, 3), dtype=np.int64)
      g[..., a] = sign * m
      g[..., b], g[..., c] = np.meshgrid(k, k, indexing="ij")
      flat = len(verts) * (m + 1) ** 2 + np.arange((m + 1) ** 2).reshape(m + 1, m + 1)
      p00, p10 = flat[:-1, :-1].ravel(), flat[1:, :-1].ravel()
      p11, p01 = flat[1:, 1:].ravel(), flat[:-1, 1:].ravel()
      tri = np.concatenate([np.stack([p00, p10, p11], 1), np.stack([p00, p11, p01], 1)])
      faces.append(tri if sign > 0 else tri[:, ::-1])
      verts.append(g.reshape(-1, 3))
  uniq, inv = np.unique(np.concatenate(verts), axis=0, return_inverse=True)
  return uniq, inv.reshape(-1)[np.concatenate(faces)]


def object_mesh(scene, sphere_cells=24):
  """Vertices (V, 3) float64 and triangles (F, 3) of every sphere and box of `scene`.

  sphere_cells quads per cube-face edge: 24 keeps the flat facets within 4e-4 of a unit sphere's
  surface (relative), far below a useful Chamfer distance.
  """
  lat, tri = cube_lattice(sphere_cells)
  unit = lat / np.linalg.norm(lat, axis=1, keepdims=True)
  corners, box_tri = cube_lattice(1)
  verts, faces, n = [], [], 0
  for c, r in zip(scene["sphere_center"], scene["sphere_radius"]):
    verts.append(c + r * unit)
    faces.append(tri + n)
    n += len(unit)
  for lo, hi in zip(scene["box_lo"], scene["box_hi"]):
    verts.append(np.where(corners > 0, hi, lo).astype(np.float64))
    faces.append(box_tri + n)
    n += len(corners)
  return np.concatenate(verts), np.concatenate(faces)


def write_ply(path, verts, faces):
  """Ascii PLY of a triangle mesh: verts (V, 3) as float64 (17 digits), faces (F, 3)."""
  head = ["ply", "format ascii 1.0", "comment macro_nerf synthetic scene: objects, world units",
          f"element vertex {len(verts)}", "property double x", "property double y",
          "property double z", f"element face {len(faces)}",
          "property list uchar int vertex_indices", "end_header"]
  with open(path, "w") as f:
    f.write("\n".join(head) + "\n")
    np.savetxt(f, np.asarray(verts, dtype=np.float64), fmt="%.17g")
    np.savetxt(f, np.concatenate([np.full((len(faces), 1), 3), faces], axis=1), fmt="%d")
