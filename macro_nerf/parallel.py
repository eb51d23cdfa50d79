"""Data parallelism with JAX's own machinery: one Mesh over every device of every process.

The batch (rays or patches) is sharded along the mesh's 'data' axis; parameters, optimiser state
and cameras are replicated; one jit-compiled step, in which XLA inserts the gradient all-reduce.
Every process draws the same global batch from (seed, step) and feeds only its own rows
(`jax.make_array_from_process_local_data`), so a run's numbers do not depend on how many devices
or hosts share it.
"""
import os
from concurrent import futures

import jax
import numpy as np
from absl import flags
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

_initialized = False


def initialize(coordinator_address="", num_processes=0, process_id=-1, auto=False):
  """Joins a multi-process run (before any JAX computation); a no-op for a single process.

  Arguments default to the environment (JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES,
  JAX_PROCESS_ID); `auto` lets JAX detect the cluster (Cloud TPU, Slurm, Open MPI).
  """
  global _initialized
  if _initialized:
    return
  coordinator_address = coordinator_address or os.environ.get("JAX_COORDINATOR_ADDRESS", "")
  num_processes = num_processes or int(os.environ.get("JAX_NUM_PROCESSES", "0"))
  if process_id < 0:
    process_id = int(os.environ.get("JAX_PROCESS_ID", "-1"))
  if not (auto or coordinator_address):
    return
  if coordinator_address and (num_processes <= 0 or process_id < 0):
    raise ValueError("a coordinator address needs num_processes and process_id too")
  # CPU hosts talk through gloo (GPU and TPU bring their own collectives).
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  if auto and not coordinator_address:
    jax.distributed.initialize()
  else:
    jax.distributed.initialize(coordinator_address, num_processes=num_processes,
                               process_id=process_id)
  _initialized = True


def define_flags():
  """Multi-process flags of the train, eval and render commands."""
  flags.DEFINE_string("coordinator_address", "", "host:port of process 0 (multi-process runs; "
                      "default $JAX_COORDINATOR_ADDRESS).")
  flags.DEFINE_integer("num_processes", 0, "Processes in the run (default $JAX_NUM_PROCESSES).")
  flags.DEFINE_integer("process_id", -1, "This process's index (default $JAX_PROCESS_ID).")
  flags.DEFINE_bool("distributed", False, "Let JAX detect the cluster (Cloud TPU, Slurm, MPI).")


def initialize_from_flags():
  f = flags.FLAGS
  initialize(f.coordinator_address, f.num_processes, f.process_id, f.distributed)


def make_mesh(devices=None):
  devices = jax.devices() if devices is None else devices
  return Mesh(np.asarray(devices), ("data",))


def replicated(mesh):
  return NamedSharding(mesh, PartitionSpec())


def batch_sharding(mesh):
  return NamedSharding(mesh, PartitionSpec("data"))


def is_main():
  return jax.process_index() == 0


def replicate(tree, mesh):
  """Places a pytree (the same on every process) on every device of the mesh."""
  sh = replicated(mesh)

  def put(x):
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      return jax.device_put(x, sh)
    return jax.make_array_from_process_local_data(sh, np.asarray(x))

  return jax.tree.map(put, tree)


def _local_rows(sharding, shape):
  """The contiguous rows of a batch-sharded array that this process's devices hold."""
  idx = sharding.addressable_devices_indices_map(shape).values()
  lo = min(i[0].start or 0 for i in idx)
  hi = max(shape[0] if i[0].stop is None else i[0].stop for i in idx)
  return lo, hi


def shard_batch(tree, mesh):
  """A global batch (numpy, identical on every process; leading axis divisible by the device
  count) -> arrays sharded along 'data'; each process feeds only its own rows."""
  sh = batch_sharding(mesh)

  def put(x):
    x = np.asarray(x)
    if x.shape[0] % mesh.size:
      raise ValueError(f"batch of {x.shape[0]} does not split over {mesh.size} devices")
    lo, hi = _local_rows(sh, x.shape)
    return jax.make_array_from_process_local_data(sh, x[lo:hi], x.shape)

  return jax.tree.map(put, tree)


def to_host(tree):
  """Numpy copy of replicated (or single-process) arrays, on every process."""

  def get(x):
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      return np.asarray(x.addressable_data(0))
    return np.asarray(x)

  return jax.tree.map(get, tree)


# Chunks in flight at once in a single process: XLA's CPU gathers use one core each, so two
# overlapping chunks keep both cores of a laptop busy (experiments/benchmark.py: eval_speed).
CHUNK_WORKERS = 2


def map_chunks(fn, columns, chunk, mesh, workers=None):
  """fn(*sharded column chunks) -> dict of replicated arrays, over columns (numpy, same length)
  in fixed-size chunks (one compile), each padded to a multiple of the device count; the outputs
  concatenated as numpy on every process. A single process keeps `workers` (CHUNK_WORKERS) chunks
  in flight; several processes go one chunk at a time, in the same order on each."""
  chunk = round_up(chunk, mesh)
  n = len(columns[0])
  pad = (-n) % chunk
  cols = [np.concatenate([c, np.zeros((pad,) + c.shape[1:], c.dtype)]) for c in columns]
  one = lambda i: to_host(fn(*shard_batch(tuple(c[i:i + chunk] for c in cols), mesh)))
  starts = range(0, n + pad, chunk)
  workers = CHUNK_WORKERS if workers is None else workers
  if jax.process_count() > 1 or workers <= 1 or len(starts) == 1:
    outs = [one(i) for i in starts]
  else:
    with futures.ThreadPoolExecutor(workers) as ex:
      outs = list(ex.map(one, starts))
  return {k: np.concatenate([o[k] for o in outs])[:n] for k in outs[0]}


def round_up(n, mesh):
  return -(-n // mesh.size) * mesh.size


def sync(name):
  """A barrier across processes (no-op in a single process)."""
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)
