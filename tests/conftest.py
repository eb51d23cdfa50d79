"""Shared test helpers: the development scenes live in ../shared/scenes beside the checkout."""
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCENES = os.path.join(os.path.dirname(REPO), "shared", "scenes")
