"""Shared-memory slots that a loader worker's batch tensors cross the process boundary in, reused batch after batch.

PyTorch's collate in a worker puts every batch in a fresh shared-memory segment: the worker faults it in page by
page while it writes, the main process maps it again, and both unmap it once the batch is gone. Measured here
that crossing cost 0.39 ms an image of a 299 px uint8 batch (docs/pipeline.md), as much as the crop's resize,
and four times that for a float32 batch. A ``SlotPool`` is made in the main process before the workers fork: a
few ``MAP_SHARED`` mappings per worker, which the forked workers write and the main process reads as the same
pages, so a steady loop touches no fresh page and maps nothing. Only a small ``Slot`` reference is pickled.

Each slot's state is one shared byte, moved by one side only:

- ``FREE → IN_FLIGHT``: the worker that owns the slot takes it for a batch (``take``);
- ``IN_FLIGHT → HELD``: the main process unpickles the reference (``_receive``, in whichever thread reads the
  workers' queue: the main one, or the pin-memory thread);
- ``HELD → FREE``: the main process, once no tensor uses the slot's mapping any more. That is exact, as in
  ``host_memory.HostPool``: every view, pinned-copy source or autograd-saved tensor holds the mapping
  through its storage, and a slot is freed only when the pool's own reference is the last one.

A worker with no free slot (the main process holds them all) sends its batch the usual way, so nothing waits.
A slot group belongs to one live worker process at a time (its pid in shared memory): a worker that starts
while another with its id is alive (two iterators of one loader) sends its batches the usual way, and one
that replaces a dead owner frees the slots the dead one left in flight, whose batches nobody will receive.
"""
from __future__ import annotations

import itertools
import math
import mmap
import multiprocessing
import os
import sys
import threading
import weakref
from typing import Any

import numpy as np
import torch
from torch.utils.data import get_worker_info

FREE, IN_FLIGHT, HELD = 0, 1, 2
_POOLS: weakref.WeakValueDictionary[int, SlotPool] = weakref.WeakValueDictionary()  # the main process's pools
_KEYS = itertools.count()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's (a reused pid)
        return True
    return True


class Slot:
    """A batch tensor in a pool's slot: in the worker ``tensor`` is the writable view; pickled, only the reference
    crosses, and the main process gets its own view of the same pages back."""

    def __init__(self, pool: SlotPool, index: int, tensor: torch.Tensor) -> None:
        self.pool, self.index, self.tensor = pool, index, tensor

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _receive, (self.pool.key, self.index, tuple(self.tensor.shape), str(self.tensor.dtype))


def _receive(key: int, index: int, shape: tuple[int, ...], dtype: str) -> torch.Tensor:
    pool = _POOLS.get(key)
    if pool is None:
        raise RuntimeError(f"a loader batch arrived in shared slot {index} of a pool this process no longer has")
    return pool.receive(index, shape, getattr(torch, dtype.removeprefix("torch.")))


class SlotPool:
    """``slots`` shared mappings of ``nbytes`` for each of ``workers`` loader workers. Make it before the workers
    start, in the process that reads the loader (their fork inherits it)."""

    def __init__(self, workers: int, slots: int, nbytes: int) -> None:
        self.key, self.workers, self.slots, self.nbytes = next(_KEYS), workers, slots, nbytes
        self.mappings = [mmap.mmap(-1, nbytes) for _ in range(workers * slots)]  # MAP_SHARED | MAP_ANONYMOUS
        self._states = mmap.mmap(-1, workers * slots)
        self.states = np.frombuffer(self._states, dtype=np.uint8)
        self._owners = mmap.mmap(-1, 8 * workers)
        self.owners = np.frombuffer(self._owners, dtype=np.int64)  # the pid of each group's worker, 0: none yet
        self._takeover = multiprocessing.Lock()  # two workers of one id (two iterators) must not both take over
        self._lock = threading.Lock()  # the main thread and the pin-memory thread both receive
        _POOLS[self.key] = self

    @classmethod
    def for_loader(cls, workers: int, prefetch_factor: int, nbytes: int) -> SlotPool | None:
        """A pool for a loader's batches of at most ``nbytes``, when its workers fork; else ``None``."""
        # the start method the workers will get (the first listed is the default), without fixing it here
        method = multiprocessing.get_start_method(allow_none=True) or multiprocessing.get_all_start_methods()[0]
        if workers < 1 or method != "fork":  # spawned workers would not share these pages
            return None
        # in flight (prefetch_factor) + held in the main process (the step's batch, the one fetched ahead, a pinned copy's source)
        return cls(workers, prefetch_factor + 3, nbytes)

    # ---------------------------------------------------------------------------------------- worker side
    def _owns(self, worker: int) -> bool:
        pid, owner = os.getpid(), int(self.owners[worker])
        if owner == pid:
            return True
        with self._takeover:
            owner = int(self.owners[worker])
            if owner and owner != pid and _alive(owner):
                return False
            group = self.states[worker * self.slots:(worker + 1) * self.slots]
            group[group == IN_FLIGHT] = FREE  # the dead owner's batches that no one will receive
            self.owners[worker] = pid
        return True

    def take(self, shape: tuple[int, ...], dtype: torch.dtype) -> Slot | None:
        """In a worker: an empty batch tensor in one of its free slots, or ``None`` (not a worker of this pool,
        too large, or no slot free: the batch then crosses the usual way)."""
        info = get_worker_info()
        count = math.prod(shape)
        if info is None or info.id >= self.workers or count * dtype.itemsize > self.nbytes or not self._owns(info.id):
            return None
        for index in range(info.id * self.slots, (info.id + 1) * self.slots):
            if self.states[index] == FREE:
                self.states[index] = IN_FLIGHT
                tensor = torch.frombuffer(self.mappings[index], dtype=dtype, count=count).view(shape)
                return Slot(self, index, tensor)
        return None

    # ------------------------------------------------------------------------------------------ main side
    def _unused(self, index: int) -> bool:
        # references: the pool's list and getrefcount's argument; any other is a live tensor's storage
        return sys.getrefcount(self.mappings[index]) == 2

    def receive(self, index: int, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """In the main process: the batch in slot ``index`` as a tensor; frees the held slots nothing uses now."""
        with self._lock:
            for held in np.flatnonzero(self.states == HELD):
                if self._unused(int(held)):
                    self.states[held] = FREE
            self.states[index] = HELD
            return torch.frombuffer(self.mappings[index], dtype=dtype, count=math.prod(shape)).view(shape)

    def counts(self) -> dict[str, int]:
        """How many slots are free, in flight and held now."""
        return {name: int((self.states == state).sum()) for name, state in
                (("free", FREE), ("in_flight", IN_FLIGHT), ("held", HELD))}
