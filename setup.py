from setuptools import find_packages, setup

with open("requirements.txt") as f:
  requirements = [line.strip() for line in f if line.strip() and not line.startswith("#")]

setup(
    name="macro_nerf",
    version="0.1.0",
    description="Joint deblurring and 3D reconstruction of defocus-blurred macro photographs (JAX).",
    python_requires=">=3.11",
    packages=find_packages(include=["macro_nerf", "macro_nerf.*", "configs"]),
    install_requires=requirements,
    extras_require={
        "test": ["pytest>=7", "ray>=2.40"],  # the Ray sweep path is tested in CI
        "ray": ["ray>=2.40"],  # sweeps across a Ray cluster
        "plots": ["matplotlib>=3.8"],  # experiments/report.py and benchmark curves
    },
    entry_points={"console_scripts": [
        "macro-nerf-demo=macro_nerf.demo:console_main",
        "macro-nerf-train=macro_nerf.train:console_main",
        "macro-nerf-eval=macro_nerf.eval:console_main",
        "macro-nerf-render=macro_nerf.render:console_main",
        "macro-nerf-sweep=macro_nerf.sweep:console_main",
    ]},
)
