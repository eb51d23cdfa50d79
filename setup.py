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
    extras_require={"test": ["pytest>=7"]},
    entry_points={"console_scripts": [
        "macro-nerf-demo=macro_nerf.demo:console_main",
        "macro-nerf-train=macro_nerf.train:console_main",
        "macro-nerf-eval=macro_nerf.eval:console_main",
        "macro-nerf-render=macro_nerf.render:console_main",
    ]},
)
