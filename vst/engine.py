"""Where the chunks of a video are graded (predict's `engine` and `workers`):

- `engine=local workers=1`: one after the other in this process (no executor);
- `engine=local workers=N`: N processes on this machine (concurrent.futures), on a machine
  with several GPUs each process on one of them in turn;
- `engine=dask`: the workers of a Dask cluster (`engine.address`, e.g. tcp://host:8786: every
  machine that runs `dask worker tcp://host:8786`, or a cluster started by dask-jobqueue on
  SLURM/PBS or dask-kubernetes), or, with no address, a local cluster of N processes.

Both give a concurrent.futures `Executor`, so predict submits and collects chunks one way.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor

import torch

from vst.errors import VstError

log = logging.getLogger("vst")


def threads_per_worker(workers: int) -> int:
    """This machine's cores shared among `workers` processes."""
    return max(1, (os.cpu_count() or 1) // workers)


def _restore_environment(environment: dict[str, str]) -> None:
    """os.environ as it was (what this process starts later, torch's threads among it, would
    otherwise run on one thread and trim its memory after every free)."""
    os.environ.clear()
    os.environ.update(environment)


def _take_gpu(slots) -> None:
    """A local worker's start on a machine with several GPUs: it sees one of them only (CUDA
    starts lazily, so this holds for everything the worker then runs)."""
    os.environ["CUDA_VISIBLE_DEVICES"] = str(slots.get())


@contextlib.contextmanager
def open_engine(name: str, workers: int, address: str | None = None) -> Iterator[Executor | None]:
    """The executor chunks are submitted to (None: grade them in this process). On leaving,
    chunks not started are cancelled and, after an error, local workers are stopped at once."""
    if name == "local":
        if workers == 1:
            yield None
            return
        # spawn: a fresh interpreter per worker (fork would copy this process's threads and torch state)
        context = multiprocessing.get_context("spawn")
        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        slots = None
        if gpus > 1:  # the workers take the GPUs in turn
            slots = context.Queue()
            for k in range(workers):
                slots.put(k % gpus)
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_take_gpu if slots else None,
                                   initargs=(slots,) if slots else ())
        try:
            yield pool
        except BaseException:
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()  # a chunk being graded is abandoned: its temporary is left
            raise                    # in the work folder, removed by the next run
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    elif name == "dask":
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise VstError("engine=dask needs Dask's distributed scheduler: pip install "
                           "'vst[dask]' (or distributed)") from None
        logging.getLogger("distributed").setLevel(logging.WARNING)  # its start/stop chatter
        environment = dict(os.environ)  # a local cluster leaves its workers' settings in ours
        with contextlib.ExitStack() as stack:  # (OMP_NUM_THREADS=1, MALLOC_TRIM_THRESHOLD_, ...)
            stack.callback(_restore_environment, environment)
            if address:
                try:
                    client = stack.enter_context(Client(address, timeout="20s"))
                except OSError as err:
                    raise VstError(f"engine.address={address!r}: no Dask scheduler answers there "
                                   f"({err})") from None
            else:
                cluster = stack.enter_context(LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True,
                    dashboard_address=None))
                client = stack.enter_context(Client(cluster))
            log.info("engine=dask: %d worker%s at %s", len(client.scheduler_info()["workers"]),
                     "" if len(client.scheduler_info()["workers"]) == 1 else "s",
                     client.scheduler.address)
            yield client.get_executor()
    else:
        raise VstError(f"engine={name!r} is unknown (choose local | dask)")
