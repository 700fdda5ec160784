"""A loader whose workers stopped answering. PyTorch's DataLoader waits forever for a worker's batch unless given a
``timeout``; ``data.timeout_s`` gives it one, so a worker stuck on storage that stopped answering (an NFS stall,
a file that blocks on open) ends the job with a record instead of hanging it. ``failing_on_stall`` turns torch's
error into the job's one line."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from contracts.errors import TaskFailure
from contracts.status import Status

TORCH_TIMEOUT = "DataLoader timed out after"  # how torch.utils.data.dataloader words its timeout


class LoaderStalled(TaskFailure):
    """No batch from the loader's workers within ``data.timeout_s``."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(Status.ERROR, f"the data loader's workers gave no batch in {timeout_s:g} s (data.timeout_s): "
                                       "one is stuck, e.g. reading from storage that stopped answering; a larger "
                                       "data.timeout_s waits longer, 0 forever")


@contextmanager
def failing_on_stall(timeout_s: float) -> Iterator[None]:
    """Raise ``LoaderStalled`` for torch's loader timeout inside the block; any other error passes unchanged."""
    try:
        yield
    except RuntimeError as exc:
        if not str(exc).startswith(TORCH_TIMEOUT):
            raise
        raise LoaderStalled(timeout_s) from None
