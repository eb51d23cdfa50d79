from setuptools import find_packages, setup

with open("requirements.txt") as f:
  requirements = [line.strip() for line in f if line.strip() and not line.startswith("#")]

setup(
    name="macro_nerf",
    version="0.1.0",
    description="Joint deblurring and 3D reconstruction of defocus-blurred macro photographs (JAX).",
    python_requires=">=3.11",
    # configs/ ships inside the package as macro_nerf._configs (macro_nerf/config_files.py).
    packages=find_packages(include=["macro_nerf", "macro_nerf.*"]) + ["macro_nerf._configs"],
    package_dir={"macro_nerf._configs": "configs"},
    # report.html inlines these: its style, script and the vendored three.js (MIT).
    package_data={"macro_nerf.report": ["static/*", "vendor/*"]},
    install_requires=requirements,
    extras_require={
        # The Ray sweep path and structure-from-motion are tested in CI.
        "test": ["pytest>=7", "ray>=2.40", "pycolmap>=3.11"],
        "colmap": ["pycolmap>=3.11"],  # macro-nerf-colmap: photos -> poses (data/sfm.py)
        "ray": ["ray>=2.40"],  # sweeps across a Ray cluster
        "plots": ["matplotlib>=3.8"],  # experiments/report.py and benchmark curves
        # macro-nerf-tfds-pack and data.path=tfds:SPLIT (macro_nerf/data/tfds_scenes.py)
        "tfds": ["tensorflow-datasets>=4.9", "tensorflow-cpu>=2.16"],
        "video": ["imageio>=2.30", "imageio-ffmpeg>=0.4"],  # MP4s of macro-nerf-render --path
    },
    entry_points={"console_scripts": [
        "macro-nerf-demo=macro_nerf.demo:console_main",
        "macro-nerf-reconstruct=macro_nerf.reconstruct:console_main",
        "macro-nerf-train=macro_nerf.train:console_main",
        "macro-nerf-eval=macro_nerf.eval:console_main",
        "macro-nerf-render=macro_nerf.render:console_main",
        "macro-nerf-export-mesh=macro_nerf.export_mesh:console_main",
        "macro-nerf-sweep=macro_nerf.sweep:console_main",
        "macro-nerf-tfds-pack=macro_nerf.tools.tfds_pack:console_main",
        "macro-nerf-colmap=macro_nerf.tools.colmap:console_main",
    ]},
)
