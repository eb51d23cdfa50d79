"""Priors for what the photos leave open: smooth disparity where blur removed the texture, and a
support plane under objects on a table; each with its own schedule."""
