"""OUT/report.html: one self-contained page (images, plots, the mesh and its viewer inlined) that
opens from disk with no network.

`write_report(path, info)` takes the dict macro_nerf/reconstruct.py gathers (see `REPORT_KEYS`):
photos with their all-in-focus renders and depth maps, the learned lens, CoC maps, the training
curve, the mesh, timings, the config, versions and the commands to reproduce.
"""
import base64
import html
import io
import json
import os

import numpy as np
import trimesh
from PIL import Image
from scipy.spatial import cKDTree

from macro_nerf import image_utils
from macro_nerf.data.images import load_image
from macro_nerf.export import mesh as mesh_lib
from macro_nerf.report import plots

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
VENDOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vendor")
REPORT_KEYS = ("title", "subtitle", "photos", "render_note", "lens", "coc", "curves", "mesh",
               "summary", "timings", "config", "versions", "commands")
MAX_WIDTH = 960  # pixels of the largest image put on the page (the full-size files sit beside it)
MAX_VIEWER_FACES = 150_000  # the page's copy of the mesh is decimated to about this (mesh file: all)


def _read(path):
  with open(path, encoding="utf-8") as f:
    return f.read()


def _upright_rgb(path):
  """The image upright (EXIF orientation) as 8-bit RGB, whatever its mode (16-bit TIFFs too)."""
  with Image.open(path) as im:
    if im.mode in ("RGB", "RGBA", "L", "LA", "P"):
      return image_utils.upright(im).convert("RGB")
  return Image.fromarray(image_utils.to_uint8(load_image(path)))


def image_uri(path, max_width=MAX_WIDTH):
  """A data: URI of the image at `path`, upright and shrunk to max_width; JPEG photos stay JPEG."""
  im = _upright_rgb(path)
  if im.width > max_width:
    im = im.resize((max_width, round(im.height * max_width / im.width)), Image.LANCZOS)
  buf = io.BytesIO()
  if path.lower().endswith((".jpg", ".jpeg")) or im.width * im.height > 400_000:
    im.save(buf, "JPEG", quality=90)
    mime = "jpeg"
  else:
    im.save(buf, "PNG")
    mime = "png"
  return f"data:image/{mime};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _b64(array):
  return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def mesh_payload(mesh_file, view_dir, up, max_faces=MAX_VIEWER_FACES):
  """The viewer's copy of a coloured mesh file: base64 float32 positions, uint8 sRGB colours and
  uint32 indices, decimated to about max_faces (colours from the nearest original vertex)."""
  m = trimesh.load(mesh_file, process=False, force="mesh")
  verts, faces = np.asarray(m.vertices), np.asarray(m.faces)
  colors = np.asarray(m.visual.vertex_colors)[:, :3].astype(np.uint8)
  if len(faces) > max_faces:
    v2, faces = mesh_lib.simplify(verts, faces, max_faces / len(faces))
    colors = colors[cKDTree(verts).query(v2)[1]]
    verts = v2
  return {"positions": _b64(np.asarray(verts, np.float32)), "colors": _b64(colors),
          "indices": _b64(np.asarray(faces, np.uint32)), "view_dir": list(map(float, view_dir)),
          "up": list(map(float, up)), "faces": int(len(faces))}


def _score_line(scores):
  if not scores:
    return ""
  parts = []
  for label, key in (("photo", "photo"), ("all-in-focus", "result")):
    s = scores.get(key)
    if s:
      parts.append(f"{label}: {s['psnr']:.2f} dB / SSIM {s['ssim']:.3f}")
  return ('<p class="figs">Against the sharp reference: ' + " &nbsp;·&nbsp; ".join(parts)
          + "</p>") if parts else ""


def photo_card(k, p):
  """One photo: photo | all-in-focus slider, its depth map, and scores where references exist."""
  name = html.escape(p["name"])
  fid = f"cmp{k}"
  tag = '<span class="tag">held out: a novel view</span>' if p.get("held_out") else ""
  return f"""<section class="photo" id="photo-{k}">
<h3>{name}{tag}</h3>
<div class="pair">
<div><figure class="compare" id="{fid}">
<img class="under" src="{image_uri(p['result'])}" alt="all-in-focus render of {name}">
<img class="over" src="{image_uri(p['input'])}" alt="photo {name}">
<div class="divider"></div></figure>
<input type="range" class="slider" min="0" max="100" value="50" data-for="{fid}"
 aria-label="slide between the photo and the all-in-focus render of {name}">
<div class="labels"><span>&larr; the photo</span><span>all-in-focus &rarr;</span></div></div>
<figure class="depth"><img src="{image_uri(p['depth'])}" alt="depth map of {name}">
<figcaption>depth (near = bright)</figcaption></figure>
</div>
{_score_line(p.get('scores'))}
</section>"""


def lens_section(lens, note):
  """Focus distance and blur scale of every photo as plots, with the truth where it is known."""
  if not lens:
    return f"<p class='note'>{html.escape(note or 'No lens was learned (defocus off).')}</p>"
  xs = list(range(len(lens)))
  labels = {i: os.path.splitext(v["name"])[0] for i, v in enumerate(lens)}
  focus = [("learned", xs, [v["focus"] for v in lens])]
  kappa = [("learned", xs, [v["kappa"] for v in lens])]
  if all(v.get("true_focus") is not None for v in lens):
    focus.append(("true", xs, [v["true_focus"] for v in lens]))
    kappa.append(("true", xs, [v["true_kappa"] for v in lens]))
  return ('<div class="plots">'
          + plots.line_plot(focus, "Focus distance per photo", "photo", "focus (scene units)",
                            xticks_labels=labels)
          + plots.line_plot(kappa, "Blur scale per photo (CoC radius = scale x |1/z - 1/focus|)",
                            "photo", "scale (px x scene units)", xticks_labels=labels)
          + "</div>" + (f"<p class='note'>{html.escape(note)}</p>" if note else ""))


def coc_section(cocs):
  cards = [f"""<figure class="coc"><img src="{image_uri(c['image'])}"
 alt="circle-of-confusion radius map of {html.escape(c['name'])}">
<figcaption>{html.escape(c['name'])}: CoC radius, black 0 px to white {c['max_px']:.1f} px
 (in focus = dark)</figcaption></figure>""" for c in cocs]
  return f'<div class="cocs">{"".join(cards)}</div>' if cards else ""


def curves_section(curves):
  if not curves:
    return "<p class='note'>No training log found.</p>"
  steps = [c["step"] for c in curves]
  out = plots.line_plot([("training batch PSNR", steps, [c.get("psnr") for c in curves])],
                        "Training PSNR (on the blurred photos)", "step", "PSNR (dB)",
                        markers=False)
  out += plots.line_plot([("loss", steps, [c.get("loss") for c in curves])], "Training loss",
                         "step", "loss", markers=False)
  return f'<div class="plots">{out}</div>'


def mesh_section(mesh):
  if not mesh:
    return "<p class='note'>No mesh was made.</p>"
  payload = json.dumps(mesh["payload"]).replace("</", "<\\/")
  return f"""<p>{html.escape(mesh['file'])}: {mesh['vertices']:,} vertices, {mesh['faces']:,} faces,
 density threshold {mesh['threshold']:.3g}{html.escape(mesh.get('note', ''))}. Drag to turn, scroll to
 zoom, right-drag to pan. <label><input type="checkbox" id="shading"> shading</label></p>
<div id="viewer"><div id="viewer-msg">Loading the 3D viewer...</div></div>
<script type="application/json" id="mesh-data">{payload}</script>"""


def _kv_table(rows):
  return ("<table class='kv'>" + "".join(
      f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
          + "</table>")


def render_html(info):
  """The page as a string."""
  photos = info.get("photos", [])
  three = _read(os.path.join(VENDOR, "three.min.js"))
  orbit = _read(os.path.join(VENDOR, "OrbitControls.js"))
  timings = [(k, f"{v:.1f} s") for k, v in info.get("timings", {}).items()]
  commands = "\n".join(info.get("commands", []))
  return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(info.get('title', 'macro_nerf report'))}</title>
<style>{_read(os.path.join(STATIC, 'report.css'))}</style>
</head><body>
<header><h1>{html.escape(info.get('title', 'macro_nerf report'))}</h1>
<p class="note">{html.escape(info.get('subtitle', ''))}</p>
<nav><a href="#photos">Photos</a><a href="#lens">Lens</a><a href="#training">Training</a>
<a href="#mesh">Mesh</a><a href="#run">Run</a></nav></header>
<main>
<h2>Summary</h2>{_kv_table(info.get('summary', []))}
<h2 id="photos">Photos: as taken, and all-in-focus</h2>
<p class="note">Slide to compare each photo with its all-in-focus render. {html.escape(info.get('render_note', ''))}</p>
<div class="photos">{''.join(photo_card(k, p) for k, p in enumerate(photos))}</div>
<h2 id="lens">The learned lens</h2>
{lens_section(info.get('lens'), info.get('lens_note'))}
<h3>Circle of confusion of a few photos</h3>
{coc_section(info.get('coc', []))}
<h2 id="training">Training</h2>
{curves_section(info.get('curves'))}
<h2 id="mesh">Mesh</h2>
{mesh_section(info.get('mesh'))}
<h2 id="run">Run</h2>
<h3>Timings</h3>{_kv_table(timings)}
<h3>Versions</h3>{_kv_table(sorted(info.get('versions', {}).items()))}
<h3>To reproduce</h3><pre>{html.escape(commands)}</pre>
<details><summary>Config</summary><pre>{html.escape(info.get('config', ''))}</pre></details>
</main>
<script>{three}</script>
<script>{orbit}</script>
<script>{_read(os.path.join(STATIC, 'report.js'))}</script>
</body></html>
"""


def write_report(path, info):
  """Writes the page atomically (a temporary file renamed into place); returns its size in bytes."""
  text = render_html(info)
  tmp = path + ".tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    f.write(text)
  os.replace(tmp, path)
  return len(text.encode("utf-8"))
