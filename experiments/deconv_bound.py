"""How much could a joint multi-view non-blind deconvolution recover, given the TRUE geometry and
lens? A rough upper reference for a radiance field trained through the defocus blur, as JSON.

  python experiments/deconv_bound.py /work/shared/scenes/pebbles [--view=1] [--crop=y0,x0,h,w]
      [--crops=3 --seed=0] [--lams=0,1e-2,1e-1,1] [--cg_iters=10,30,100] [--margin=8]
      [--support=kernel|window]

The unknown is the sharp linear colour x of a crop of training view i. A pixel p of training view j
(i included) is used when its blur support consists of pixels q whose surface points (view j's true
depth) land in the crop (all four bilinear taps inside) and are visible in view i (2% depth test, as
in focus_coverage); p is then a known linear function of x: macro_nerf.defocus's normalised scatter
blur with the true radii, each q's colour a bilinear sample of x. The support is the taps with
nonzero weight (--support=kernel, default), or the whole |o| <= margin window (--support=window:
the same operator, but it drops every row within `margin` px of the crop's edge, which leaves much
of the crop unobserved).

Solves min |Ax - b|^2 + lam |Dx|^2 (D: finite differences on the crop) exactly for every lam
(lam = 0: minimum-norm least squares) and by CG at lam = 0 stopped early, started from view i's
blurred photo. Scores sRGB PSNR against images_sharp overall, on the observed pixels (those some
row depends on) and per min-radius bin, beside the blurred photo and the focus stack (each pixel
from the training photo that has its surface point sharpest). best_deconv is picked on the truth
(an oracle choice). psnr_synthetic (observed pixels): the same solves on photos made by A from the
truth (exact, and rounded to 8-bit sRGB), i.e. the ill-posedness without model mismatch.
data_fit_psnr compares A x with the photos; for the true x, split into view i's own rows (blur
model mismatch) and the other views' (plus reprojection mismatch).

The crop is small, so the normal matrix is dense (n^2 doubles, n = h*w; keep n at a few thousand).
Numpy/scipy only, one BLAS thread, no training.
"""
import os

for _k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
  os.environ.setdefault(_k, "1")  # this is a diagnostic; leave the other cores alone

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import scipy.linalg  # noqa: E402
import scipy.sparse as sp  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import focus_coverage  # noqa: E402
from macro_nerf.data.images import load_image  # noqa: E402
from macro_nerf.defocus import blur as defocus  # noqa: E402
from macro_nerf.nerf import camera  # noqa: E402
from macro_nerf.image_utils import linear_to_srgb, psnr, srgb_to_linear  # noqa: E402


class Scene:
  """Cameras, true depths, lens and the training photos (linear light) of one scene folder."""

  def __init__(self, path):
    self.path = path
    self.lens = json.load(open(os.path.join(path, "lens.json")))["views"]
    self.c2w, self.h, self.w, self.intr = focus_coverage.cameras(path)
    names = [os.path.splitext(v["file"])[0] for v in self.lens]
    self.depth = [np.load(os.path.join(path, "depth", n + ".npy")).astype(np.float64)
                  for n in names]
    self.train = [i for i, v in enumerate(self.lens) if not v["held_out_sharp"]]
    self.srgb = {j: self.image("images", j) for j in self.train}
    self.linear = {j: srgb_to_linear(im, xnp=np) for j, im in self.srgb.items()}

  def image(self, folder, j):
    return load_image(os.path.join(self.path, folder, self.lens[j]["file"])).astype(np.float64)

  def radius(self, j, z):
    v = self.lens[j]
    with np.errstate(divide="ignore"):  # z = 0 where a ray hit nothing (garden's sky): r = inf
      return v["coc_scale_px"] * np.abs(1 / z - 1 / v["focus_distance"])

  def points(self, j):
    o, d = camera.image_rays(self.c2w[j], self.intr, self.h, self.w)
    return o + d * self.depth[j][..., None]  # directions have unit z-depth component


def bilinear(uv, y0, x0, ch, cw):
  """Flat crop indices (..., 4), weights (..., 4) and in-crop mask of pixel positions uv."""
  gx = np.nan_to_num(uv[..., 0] - 0.5 - x0, nan=-1.0)  # crop grid: pixel centres at integers
  gy = np.nan_to_num(uv[..., 1] - 0.5 - y0, nan=-1.0)
  inside = (gx >= 0) & (gx <= cw - 1) & (gy >= 0) & (gy <= ch - 1)
  fx = np.clip(np.floor(gx), 0, cw - 2).astype(int)
  fy = np.clip(np.floor(gy), 0, ch - 2).astype(int)
  ax, ay = gx - fx, gy - fy
  idx = np.stack([fy * cw + fx, fy * cw + fx + 1, (fy + 1) * cw + fx, (fy + 1) * cw + fx + 1], -1)
  wts = np.stack([(1 - ay) * (1 - ax), (1 - ay) * ax, ay * (1 - ax), ay * ax], -1)
  return idx, wts, inside


def visible_in(S, i, pts):
  """Pixel positions in view i of world points, and where they are in front and not occluded."""
  return focus_coverage.visible(pts, S.c2w[i], S.intr, S.depth[i])


def view_rows(S, j, i, crop, margin, support):
  """Rows of A (csr) and b (linear photo colours) contributed by training photo j."""
  ch, cw = crop[2:]
  uv, _, vis = visible_in(S, i, S.points(j))
  idx, wts, inside = bilinear(uv, *crop)
  good = vis & inside
  off = defocus.window_offsets(margin)
  dist = np.sqrt((off.astype(np.float64) ** 2).sum(-1))
  r = np.minimum(S.radius(j, S.depth[j]), defocus.max_radius(margin))
  norm = sum(defocus.disk_kernel(dk, r, xnp=np) for dk in dist)  # every disk sums to one
  m = margin
  cand = np.zeros_like(good)
  cand[m:S.h - m, m:S.w - m] = good[m:S.h - m, m:S.w - m]  # whole window inside the image
  py, px = np.nonzero(cand)
  if not len(py):
    return None, None
  qy, qx = py[:, None] + off[None, :, 0], px[:, None] + off[None, :, 1]  # (P, K)
  wk = defocus.disk_kernel(dist, r[qy, qx], xnp=np) / norm[qy, qx]
  need = wk > 0 if support == "kernel" else np.ones_like(wk, bool)
  keep = np.all(good[qy, qx] | ~need, axis=1)
  if not keep.any():
    return None, None
  qy, qx, wk = qy[keep], qx[keep], wk[keep]
  a = wk / wk.sum(1, keepdims=True)  # normalize=True: divide by the received weight
  rows = np.broadcast_to(np.arange(len(a))[:, None, None], a.shape + (4,))
  vals = a[..., None] * wts[qy, qx]
  nz = (a > 0)[..., None] & (vals != 0)
  A = sp.csr_matrix((vals[nz], (rows[nz], idx[qy, qx][nz])), shape=(len(a), ch * cw))
  A.sum_duplicates()
  return A, S.linear[j][py[keep], px[keep]]


def focus_stack(S, i, crop):
  """Each crop pixel's colour from the training photo with the smallest true radius there."""
  y0, x0, ch, cw = crop
  pts = S.points(i)[y0:y0 + ch, x0:x0 + cw]
  best, out = np.full((ch, cw), np.inf), np.zeros((ch, cw, 3))
  for j in S.train:
    uv, z, vis = visible_in(S, j, pts)
    r = S.radius(j, z)
    better = vis & (r < best)
    gx = np.clip(uv[..., 0] - 0.5, 0, S.w - 1)
    gy = np.clip(uv[..., 1] - 0.5, 0, S.h - 1)
    fx, fy = np.minimum(gx.astype(int), S.w - 2), np.minimum(gy.astype(int), S.h - 2)
    ax, ay = (gx - fx)[..., None], (gy - fy)[..., None]
    im = S.linear[j]
    c = ((1 - ay) * ((1 - ax) * im[fy, fx] + ax * im[fy, fx + 1])
         + ay * ((1 - ax) * im[fy + 1, fx] + ax * im[fy + 1, fx + 1]))
    out[better], best[better] = c[better], r[better]
  return out


def differences(ch, cw):
  """Horizontal and vertical forward differences on the crop grid."""
  def d1(n):
    return sp.diags([-np.ones(n - 1), np.ones(n - 1)], [0, 1], shape=(n - 1, n))
  return sp.vstack([sp.kron(sp.eye(ch), d1(cw)), sp.kron(d1(ch), sp.eye(cw))]).tocsr()


def cg_iterates(M, rhs, x0, iters):
  """Conjugate gradients on M x = rhs from x0 (columns independently), kept at `iters`."""
  x = x0.copy()
  r = rhs - M @ x
  p, rr, out = r.copy(), (r * r).sum(0), {}
  for k in range(1, max(iters) + 1):
    Mp = M @ p
    alpha = rr / np.maximum((p * Mp).sum(0), 1e-300)
    x += alpha * p
    r -= alpha * Mp
    rr, rr_old = (r * r).sum(0), rr
    p = r + rr / np.maximum(rr_old, 1e-300) * p
    if k in iters:
      out[k] = x.copy()
  return out


def default_crop(rmin, ch, cw, stride=5):
  """The window centred in the middle half of the image (other photos see less of the border) whose
  min-radius bin histogram has the highest entropy."""
  b = np.digitize(rmin, focus_coverage.BINS[1:-1])
  h, w = rmin.shape
  best, crop = -1.0, None
  for y0 in range(max(h // 4 - ch // 2, 0), min(3 * h // 4 - ch // 2, h - ch) + 1, stride):
    for x0 in range(max(w // 4 - cw // 2, 0), min(3 * w // 4 - cw // 2, w - cw) + 1, stride):
      f = np.bincount(b[y0:y0 + ch, x0:x0 + cw].ravel(), minlength=len(focus_coverage.BINS) - 1)
      f = f[f > 0] / f.sum()
      e = float(-(f * np.log(f)).sum())
      if e > best + 1e-9:
        best, crop = e, (y0, x0, ch, cw)
  return crop


def run_crop(S, i, crop, rmin, args):
  t0 = time.time()
  y0, x0, ch, cw = crop
  blocks, bs, per_view = [], [], {}
  for j in [i] + [j for j in S.train if j != i]:  # view i's own rows first
    A_j, b_j = view_rows(S, j, i, crop, args.margin, args.support)
    if A_j is not None:
      blocks.append(A_j)
      bs.append(b_j)
      per_view[S.lens[j]["file"]] = A_j.shape[0]
  A, b = sp.vstack(blocks).tocsr(), np.concatenate(bs)
  gt = S.image("images_sharp", i)[y0:y0 + ch, x0:x0 + cw]
  x_true = srgb_to_linear(gt, xnp=np).reshape(-1, 3)
  # Three right-hand sides, solved together: the photos, and photos made by the operator itself
  # from the truth (exact, and rounded to 8-bit sRGB), to tell ill-posedness from model mismatch.
  syn = A @ x_true
  syn8 = srgb_to_linear(np.round(linear_to_srgb(np.clip(syn, 0, 1), xnp=np) * 255) / 255, xnp=np)
  data = {"photos": b, "synthetic_exact": syn, "synthetic_8bit": syn8}
  B = np.concatenate(list(data.values()), 1)
  t1 = time.time()
  AtA, AtB = (A.T @ A).toarray(), A.T @ B
  D = differences(ch, cw)
  DtD = (D.T @ D).toarray()
  ev, V = np.linalg.eigh(AtA)  # squared singular values of A
  sol = {}
  for lam in args.lams:
    if lam == 0:  # minimum-norm least squares; drop directions A does not see
      keep = ev > 1e-12 * ev[-1]
      sol["lam=0"] = V[:, keep] @ ((V[:, keep].T @ AtB) / ev[keep, None])
    else:
      sol[f"lam={lam:g}"] = scipy.linalg.cho_solve(scipy.linalg.cho_factor(AtA + lam * DtD), AtB)
  photo = np.tile(S.linear[i][y0:y0 + ch, x0:x0 + cw].reshape(-1, 3), (1, len(data)))
  for k, x in cg_iterates(AtA, AtB, photo, args.cg_iters).items():
    sol[f"cg{k}"] = x
  t2 = time.time()

  to_srgb = lambda x: linear_to_srgb(np.clip(x, 0, 1), xnp=np)
  est = {"blurred_photo": S.srgb[i][y0:y0 + ch, x0:x0 + cw],
         "focus_stack": to_srgb(focus_stack(S, i, crop))}
  est.update({k: to_srgb(x[:, :3]).reshape(ch, cw, 3) for k, x in sol.items()})
  observed = (np.asarray(A.sum(0)).ravel() > 0).reshape(ch, cw)
  synthetic = {}
  for n, d in enumerate(list(data)[1:], 1):
    synthetic[d] = {k: psnr(to_srgb(x[:, 3 * n:3 * n + 3]).reshape(ch, cw, 3)[observed],
                            gt[observed]) for k, x in sol.items()}
  b_srgb, pred = to_srgb(b), to_srgb(syn)
  fit = {k: psnr(to_srgb(A @ x[:, :3]), b_srgb) for k, x in sol.items()}
  n_self = per_view.get(S.lens[i]["file"], 0)
  fit["truth"] = psnr(pred, b_srgb)
  fit["truth_own_view"] = psnr(pred[:n_self], b_srgb[:n_self]) if n_self else None
  fit["truth_other_views"] = psnr(pred[n_self:], b_srgb[n_self:]) if n_self < len(b) else None
  r = rmin[y0:y0 + ch, x0:x0 + cw]
  bins = {}
  for lo, hi in zip(focus_coverage.BINS[:-1], focus_coverage.BINS[1:]):
    sel = (r >= lo) & (r < hi)
    if sel.any():
      bins[f"[{lo},{hi})"] = {"fraction": float(sel.mean()),
                              **{k: psnr(e[sel], gt[sel]) for k, e in est.items()}}
  scores = {k: psnr(e, gt) for k, e in est.items()}
  best = max(sol, key=scores.get)  # chosen on the truth: an oracle choice
  sv = np.sqrt(np.maximum(ev, 0) / ev[-1])
  return {
      "crop": list(crop), "rows": A.shape[0], "unknowns": ch * cw, "nnz": int(A.nnz),
      "views_used": len(per_view), "rows_by_view": per_view,
      "observed_fraction": float(observed.mean()),
      "singular_value_fraction_below": {f"{t:g}": float((sv < t).mean())
                                        for t in (1e-1, 1e-2, 1e-3)},
      "psnr": scores, "best_deconv": [best, scores[best]],
      "psnr_observed": {k: psnr(e[observed], gt[observed]) for k, e in est.items()},
      "psnr_synthetic": synthetic,
      "data_fit_psnr": fit,
      "min_radius_px_bins": bins,
      "seconds": {"build": round(t1 - t0, 2), "solve": round(t2 - t1, 2),
                  "score": round(time.time() - t2, 2)}}


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("scene")
  ap.add_argument("--view", type=int, default=None, help="target training view (default: first)")
  ap.add_argument("--crop", default="", help="y0,x0,h,w (default: a 40x40 mixed-radius crop)")
  ap.add_argument("--crops", type=int, default=0, help="also this many random crops of the view")
  ap.add_argument("--seed", type=int, default=0)
  ap.add_argument("--lams", default="0,1e-3,1e-2,3e-2,1e-1,3e-1,1")
  ap.add_argument("--cg_iters", default="10,30,100,300")
  ap.add_argument("--margin", type=int, default=8)
  ap.add_argument("--support", choices=("window", "kernel"), default="kernel")
  args = ap.parse_args()
  args.lams = [float(v) for v in args.lams.split(",")]
  args.cg_iters = [int(v) for v in args.cg_iters.split(",") if v]
  t0 = time.time()
  S = Scene(args.scene)
  i = S.train[0] if args.view is None else args.view
  assert i in S.train, f"view {i} is not a training view"
  rmin = focus_coverage.min_radius(i, S.train, S.c2w, S.h, S.w, S.intr, S.depth, S.lens)
  crops = ([tuple(int(v) for v in args.crop.split(","))] if args.crop
           else [default_crop(rmin, 40, 40)])
  ch, cw = crops[0][2:]
  rng = np.random.default_rng(args.seed)
  crops += [(int(rng.integers(0, S.h - ch + 1)), int(rng.integers(0, S.w - cw + 1)), ch, cw)
            for _ in range(args.crops)]
  results = [run_crop(S, i, c, rmin, args) for c in crops]
  out = {"scene": args.scene, "view": S.lens[i]["file"], "margin": args.margin,
         "support": args.support, "train_views": len(S.train), "crops": results}
  if len(results) > 1:
    mean = lambda get: float(np.mean([get(r) for r in results]))
    out["mean_psnr"] = {k: mean(lambda r: r["psnr"][k]) for k in results[0]["psnr"]}
    out["mean_psnr_synthetic"] = {d: {k: mean(lambda r: r["psnr_synthetic"][d][k]) for k in v}
                                  for d, v in results[0]["psnr_synthetic"].items()}
  out["seconds"] = round(time.time() - t0, 2)
  print(json.dumps(out))


if __name__ == "__main__":
  main()
