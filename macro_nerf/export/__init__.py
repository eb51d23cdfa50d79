"""Outputs of a trained run: evaluation renders and metrics, refocused renders and camera paths,
videos, and meshes with colours."""
