"""The errors a user can cause, in one place: each message names the file or setting and the
problem.

Commands print `error: <message>` on one line and exit 1 for any `Error` (and for ValueError, which
the checks of command-line values raise).
"""


class Error(Exception):
  """Base of macro_nerf's own errors."""


class DataError(Error, ValueError):
  """Bad input: the message names the file and the problem."""


class TrainingError(Error, RuntimeError):
  """A run that cannot start or go on (a workdir holding another run, NaN losses)."""


class MeshError(Error, ValueError):
  """Nothing to mesh (no density above the threshold, an empty box) or a bad request."""


class SweepError(Error, ValueError):
  """A sweep file or run that cannot be used."""


class ConfigError(Error, ValueError):
  """A config value that cannot work (a negative step count, a zero batch): names key and value."""


class OutputError(Error, ValueError):
  """A folder or file a command is to write that cannot be created or written."""


class DistortionError(Error, ValueError):
  """A lens-distortion model that cannot be inverted over the image."""


def one_line(e):
  """An exception's message on one line (its type's name when it has none)."""
  return " ".join(str(e).split()) or type(e).__name__
