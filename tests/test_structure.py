"""The package's shape: short functions, imports at the top, errors in one module."""
import ast
import os

from helpers import REPO

PACKAGE = os.path.join(REPO, "macro_nerf")
OPTIONAL = ("pycolmap", "tensorflow_datasets", "tensorflow", "ray", "imageio")  # heavy extras


def _modules():
  for root, _, files in os.walk(PACKAGE):
    for f in sorted(files):
      if f.endswith(".py"):
        path = os.path.join(root, f)
        with open(path) as fh:
          yield os.path.relpath(path, REPO), ast.parse(fh.read())


def _functions(tree):
  return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def test_no_function_is_longer_than_80_lines():
  long = [f"{path}:{fn.lineno} {fn.name} ({fn.end_lineno - fn.lineno + 1} lines)"
          for path, tree in _modules() for fn in _functions(tree)
          if fn.end_lineno - fn.lineno + 1 > 80]
  assert not long, long


def test_imports_inside_functions_are_only_optional_extras():
  inner = []
  for path, tree in _modules():
    for fn in _functions(tree):
      for node in ast.walk(fn):
        if isinstance(node, ast.Import):
          names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
          names = [node.module or ""]
        else:
          continue
        inner += [f"{path}:{node.lineno} {n}" for n in names if n.split(".")[0] not in OPTIONAL]
  assert not inner, inner


def test_error_classes_live_in_errors_py():
  elsewhere = [f"{path}:{node.lineno} {node.name}" for path, tree in _modules()
               for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
               and node.name.endswith("Error") and path != os.path.join("macro_nerf", "errors.py")]
  assert not elsewhere, elsewhere
