"""The batch side of the input pipeline, on the training device: uint8 → float, GoogLeNet's photometric
distortion per sample, normalisation.

The photometric distortion is torchvision's ``ColorJitter(brightness=32/255, contrast=0.5, saturation=0.5,
hue=0.2)`` as the per-sample pipeline drew it before (the ranges TF-slim gives Howard's distortions), drawn
the same way for each image of the batch: brightness / contrast / saturation factors uniform in
[1-b, 1+b], hue shift uniform in [-h, h], the four in a uniformly random order of their own. Each operation is
torchvision's float formula (``adjust_brightness`` / ``adjust_contrast`` / ``adjust_saturation`` /
``adjust_hue``), clamped to [0, 1] after each, as there. One difference: the per-sample path ran on uint8
tensors and truncated to uint8 after every step; here the image stays in float32 between steps, so the output
is the same distortion without those four roundings (a test compares both).

On a GPU the images that take the same operation at the same step are gathered and transformed together
(a handful of kernels per batch); on a CPU, where a gather is a full extra pass over memory, each image goes
through all its steps on its own view while it is in cache: scaled from uint8, distorted, normalised, written
into the batch's output in place. What costs a CPU here is memory, not arithmetic: every fresh temporary of a
few hundred kB is a fresh mmap that the kernel faults in and zeroes page by page (an elementwise op ~20x
slower than the same op into a buffer it had), and so is the 34 MB output of a 299 px batch of 32. So on a
CPU each operation writes its temporaries into reused buffers (``Scratch``), the output comes from a pool of
huge-page host buffers (``host_memory.HostPool``), and the in-place hue step ``hue_`` is written without
``where`` and channel reductions (each several times an add on a CPU), as sector masks and masked sums: the
same arithmetic, bit for bit, as the readable ``hue`` (a test).

The kernel (``data.augment_kernel``): ``numba`` runs a CPU batch through ``fused_augment``'s compiled loop (the
same arithmetic, two passes over each image instead of some fifty: ~5x cheaper per core); ``torch`` the
operations here; ``compile`` has ``torch.compile`` fuse ``hue`` into one loop (3-4x cheaper than ``hue_``, after a
one-time compile of seconds, cached on disk by inductor, which needs a C++ compiler at run time); ``auto``
is ``numba`` where it imports, else ``torch``. A batch on a GPU always takes the gathered torch operations
(``compile`` compiles them there too).
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from contracts.errors import ConfigError, check_choice

from . import fused_augment
from .host_memory import HostPool

GRAY = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale weights (ITU-R 601-2 luma)
# GoogLeNet's photometric distortion as this project draws it (torchvision ColorJitter arguments)
PHOTOMETRIC = {"brightness": 32 / 255, "contrast": 0.5, "saturation": 0.5, "hue": 0.2}
HUE_SHIFTS = (5.0, 3.0, 1.0)  # HSV -> RGB: channel n of (R, G, B) reads the hexcone at (n + hue) mod 6
FOUR = torch.tensor(4.0)  # a 0-dim CPU tensor: a scalar operand on any device
KERNELS = ("auto", "numba", "torch", "compile")  # data.augment_kernel


@functools.lru_cache(maxsize=None)
def constant(values: tuple[float, ...], device: torch.device) -> torch.Tensor:
    """``torch.tensor(values)`` on ``device``, made once (a fresh one per call is a host-to-device copy on a GPU)."""
    return torch.tensor(values, device=device)


class Scratch:
    """Temporaries that outlive one call: ``scratch(name, like, channels)`` is an ``N x channels x H x W`` buffer
    of ``like``'s dtype and device, made once per shape and handed back on every later call (on a CPU a fresh
    one would be page-faulted in each time)."""

    def __init__(self) -> None:
        self._buffers: dict[str, torch.Tensor] = {}

    def __call__(self, name: str, like: torch.Tensor, channels: int = 1) -> torch.Tensor:
        shape = (like.shape[0], channels, *like.shape[2:])
        buffer = self._buffers.get(name)
        if buffer is None or buffer.shape != shape or buffer.dtype != like.dtype or buffer.device != like.device:
            buffer = self._buffers[name] = torch.empty(shape, dtype=like.dtype, device=like.device)
        return buffer


def _gray(x: torch.Tensor, scratch: Scratch | None = None) -> torch.Tensor:
    """``N x 1 x H x W`` luma of ``N x 3 x H x W`` float RGB."""
    out = scratch("gray", x) if scratch is not None else None
    return torch.mul(x[:, 0:1], GRAY[0], out=out).add_(x[:, 1:2], alpha=GRAY[1]).add_(x[:, 2:3], alpha=GRAY[2])


def brightness_(x: torch.Tensor, f: torch.Tensor, scratch: Scratch | None = None) -> torch.Tensor:
    return x.mul_(f.view(-1, 1, 1, 1)).clamp_(0, 1)


def contrast_(x: torch.Tensor, f: torch.Tensor, scratch: Scratch | None = None) -> torch.Tensor:
    f = f.view(-1, 1, 1, 1)
    # the mean luma, as the luma of the channel means (linear: the same to float rounding, one pass fewer)
    mean = (x.mean(dim=(2, 3)) @ constant(GRAY, x.device).to(x.dtype)).view(-1, 1, 1, 1)  # N x 1 x 1 x 1
    return x.mul_(f).add_(mean * (1 - f)).clamp_(0, 1)


def saturation_(x: torch.Tensor, f: torch.Tensor, scratch: Scratch | None = None) -> torch.Tensor:
    f = f.view(-1, 1, 1, 1)
    gray = _gray(x, scratch).mul_(1 - f)  # N x 1 x H x W
    return x.mul_(f).add_(gray).clamp_(0, 1)


def hue(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """HSV hue shifted by ``f`` turns: value (max) and chroma (max - min) stay, the hexcone gives RGB back.

    Written out of place so that ``torch.compile`` fuses it into one loop (in place, inductor keeps copies).
    """
    low, high = torch.aminmax(x, dim=1)  # N x H x W each
    chroma = high - low
    r, g, b = x.unbind(1)
    is_r = high == r
    is_g = (high == g) & ~is_r
    numerator = torch.where(is_r, g - b, torch.where(is_g, b - r, r - g))
    offset = torch.where(is_r, 0.0, torch.where(is_g, 2.0, 4.0))
    # hue in sixths of a turn, shifted; grey pixels (chroma 0) keep any hue: they come back grey
    sixths = numerator / torch.where(chroma > 0, chroma, 1.0) + offset + 6 * f.view(-1, 1, 1)
    channels = []
    for n in HUE_SHIFTS:  # R, G, B of HSV -> RGB: v - c * clamp(min(k, 4 - k), 0, 1), k = (n + h) mod 6
        # sixths is in [-2.2, 6.2], so k in [-1.2, 11.2): one fold by 6 (exact there) is the mod, and a k
        # still below 0 reads 0 off the hexcone as its wrapped value in [4.8, 6) does (a division-based
        # remainder is the slowest op of the step, eager or compiled)
        k = sixths + n
        k = torch.where(k >= 6.0, k - 6.0, k)
        channels.append(high - chroma * torch.clamp(torch.minimum(k, 4.0 - k), 0, 1))
    return torch.stack(channels, 1)


def hue_(x: torch.Tensor, f: torch.Tensor, scratch: Scratch | None = None) -> torch.Tensor:
    """``hue`` in place, bit for bit, in some thirty passes into ``scratch`` buffers and without ``where``: the
    channel of the max as 0 / 1 masks (r, else g, else b: the ``where`` chain's order), the numerator chosen
    by ``lerp`` with those weights (exact), the offset as their arithmetic, the fold by 6 as a masked
    subtraction."""
    scratch = scratch if scratch is not None else Scratch()
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    high = scratch("high", x)
    torch.maximum(torch.maximum(r, g, out=high), b, out=high)
    chroma = scratch("chroma", x)
    torch.sub(high, torch.minimum(torch.minimum(r, g, out=chroma), b, out=chroma), out=chroma)
    masks = scratch("masks", x, 3)  # 0 / 1 floats: r is not the max; g is a max
    not_r, is_g = masks[:, 0:1], masks[:, 1:2]
    torch.ne(high, r, out=not_r)
    torch.eq(high, g, out=is_g)
    terms = scratch("terms", x, 3)  # r - g, b - r, g - b: the numerators of a b, g, r max
    torch.sub(r, g, out=terms[:, 0:1])
    torch.sub(b, r, out=terms[:, 1:2])
    torch.sub(g, b, out=terms[:, 2:3])
    sixths = scratch("sixths", x)  # lerp with a 0 / 1 weight is an exact choice: the where chain's
    torch.lerp(terms[:, 2:3], torch.lerp(terms[:, 0:1], terms[:, 1:2], is_g, out=sixths), not_r, out=sixths)
    offset = torch.mul(is_g, -2.0, out=terms[:, 0:1]).add_(4.0).mul_(not_r)  # 0 (r max), 2 (g), 4 (b)
    divisor = torch.eq(chroma, 0, out=scratch("divisor", x)).add_(chroma)  # chroma; 1 for grey pixels
    sixths.div_(divisor).add_(offset).add_(6 * f.view(-1, 1, 1, 1))
    k = torch.add(sixths, constant(HUE_SHIFTS, x.device).to(x.dtype).view(1, 3, 1, 1), out=x)  # x is free now
    k.sub_(torch.ge(k, 6.0, out=masks), alpha=6)
    triangle = torch.minimum(k, torch.sub(FOUR, k, out=masks), out=k).clamp_(0, 1)
    return torch.sub(high, triangle.mul_(chroma), out=x)  # v - c * triangle


OPERATIONS = (brightness_, contrast_, saturation_, hue_)


@dataclass
class Jitter:
    """One batch's draw: ``order`` N x 4 (operation indices, brightness 0 contrast 1 saturation 2 hue 3, in the
    order each image takes them) and ``factors`` N x 4 (brightness, contrast, saturation factors; hue shift)."""

    order: torch.Tensor
    factors: torch.Tensor


def draw_jitter(n: int, generator: torch.Generator | None = None, brightness: float = PHOTOMETRIC["brightness"],
                contrast: float = PHOTOMETRIC["contrast"], saturation: float = PHOTOMETRIC["saturation"],
                hue: float = PHOTOMETRIC["hue"]) -> Jitter:
    """ColorJitter's per-image draw for ``n`` images (on the CPU, seeded by ``generator``)."""
    low = torch.tensor([max(0.0, 1 - brightness), max(0.0, 1 - contrast), max(0.0, 1 - saturation), -hue])
    high = torch.tensor([1 + brightness, 1 + contrast, 1 + saturation, hue])
    factors = low + (high - low) * torch.rand(n, 4, generator=generator)
    order = torch.rand(n, 4, generator=generator).argsort(dim=1)  # a uniformly random permutation per image
    return Jitter(order, factors)


Operation = Callable[..., torch.Tensor]  # (x, f, scratch=None), in place on x


def _hue_copy_(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    return x.copy_(hue(x, f))


def compiled_operations() -> tuple[Operation, ...]:
    """``OPERATIONS`` with the hue step compiled (fused into one loop by inductor, the copy back included)."""
    fused = torch.compile(_hue_copy_, fullgraph=True)
    return (*OPERATIONS[:3], lambda x, f, scratch=None: fused(x, f))


def jitter_(x: torch.Tensor, jitter: Jitter, gather: bool | None = None,
            operations: tuple[Operation, ...] = OPERATIONS, scratch: Scratch | None = None) -> torch.Tensor:
    """Apply each image's four operations in its own order, in place on ``N x 3 x H x W`` float in [0, 1].

    ``gather``: transform the images that take one operation at one step together (default off the CPU) or
    each image on its own view (default on the CPU); both give the same result.
    """
    factors = jitter.factors.to(x.device, non_blocking=True)
    if not (x.device.type != "cpu" if gather is None else gather):
        scratch = scratch if scratch is not None else Scratch()
        for i, order in enumerate(jitter.order.tolist()):
            for op in order:
                operations[op](x[i:i + 1], factors[i:i + 1, op], scratch)
        return x
    order = jitter.order.to(x.device, non_blocking=True)
    for step in range(4):
        for op, fn in enumerate(operations):
            chosen = (order[:, step] == op).nonzero().squeeze(1)
            x[chosen] = fn(x[chosen], factors[chosen, op])  # an empty selection is a no-op
    return x


@contextmanager
def one_thread() -> Iterator[None]:
    """torch's intra-op pool at one thread: the per-image steps are hundreds of small ops, which a pool only
    slows (and on a busy machine, each op's barrier waits for a descheduled thread: seconds per batch)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class BatchAugment:
    """uint8 ``N x C x H x W`` (or ``N x V x C x H x W`` multi-crop stacks) → normalised float32 on their device.

    ``photometric``: apply the distortion to training batches. ``seed`` seeds the draw. ``kernel``: ``KERNELS``
    (module docstring).
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], photometric: bool = False, seed: int = 0,
                 kernel: str = "auto") -> None:
        check_choice("data.augment_kernel", kernel, KERNELS)
        if kernel == "numba" and not fused_augment.available():
            raise ConfigError("data.augment_kernel=numba needs numba, which is not installed here "
                              "(pip install -e \".[fast]\"); or use auto, torch or compile")
        self.mean, self.std, self.photometric = tuple(mean), tuple(std), photometric
        self.fused = kernel in ("auto", "numba") and fused_augment.available()
        self.operations = compiled_operations() if kernel == "compile" and photometric else OPERATIONS
        self.seed, self.generator = seed, torch.Generator().manual_seed(seed)
        self.scratch, self.host = Scratch(), HostPool()
        self._affine: dict[tuple[torch.device, bool], tuple[torch.Tensor, torch.Tensor]] = {}
        if self.fused:  # compiled (or loaded from numba's cache) now, before any loader worker forks
            fused_augment.warm()

    def kernel_on(self, device: torch.device) -> str:
        """The kernel a batch on ``device`` takes: numba, torch or compile."""
        if device.type == "cpu" and self.fused:
            return "numba"
        return "compile" if self.operations is not OPERATIONS else "torch"

    def reseed(self, worker_seed: int) -> None:
        """A loader worker's own stream of draws (its forked copy would repeat the main process's), from the seed
        given here (the run's and the rank's) and the worker's (DataLoader's: the same on every rank under DDP)."""
        self.generator.manual_seed(hash((self.seed, worker_seed)) & (2**63 - 1))  # ints hash alike in every process

    def _scale_shift(self, device: torch.device, from_uint8: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """(x - mean) / std as x * scale + shift, for x in [0, 255] (uint8) or [0, 1] (float)."""
        key = (device, from_uint8)
        if key not in self._affine:
            std, mean = torch.tensor(self.std), torch.tensor(self.mean)
            scale = 1 / (std * (255.0 if from_uint8 else 1.0))
            self._affine[key] = (scale.view(3, 1, 1).to(device), (-mean / std).view(3, 1, 1).to(device))
        return self._affine[key]

    def __call__(self, images: torch.Tensor, train: bool, out: torch.Tensor | None = None) -> torch.Tensor:
        """The batch's model input; on a CPU into ``out`` when given (contiguous float32 of ``images``' shape)."""
        if images.device.type == "cpu":
            if self.fused and images.dtype == torch.uint8 and images.shape[-3] == 3:
                return self._apply_fused(images, train, out)
            with one_thread():
                return self._apply_per_image(images, train, out)
        return self._apply(images, train)

    def _apply_fused(self, images: torch.Tensor, train: bool, out: torch.Tensor | None) -> torch.Tensor:
        out = self.host.empty(images.shape) if out is None else out
        scale, shift = self._scale_shift(out.device, from_uint8=False)
        flat = (-1, *images.shape[-3:])  # multi-crop stacks: one image a view
        jitter = draw_jitter(len(images), self.generator) if train and self.photometric else None
        fused_augment.augment(images.contiguous().view(flat), out.view(flat), scale.flatten().tolist(),
                              shift.flatten().tolist(), *((jitter.order, jitter.factors) if jitter else ()))
        return out

    def _apply_per_image(self, images: torch.Tensor, train: bool, out: torch.Tensor | None = None) -> torch.Tensor:
        """The CPU path: each image scaled, distorted and normalised in turn into its slice of the output, its
        temporaries in ``self.scratch``; the same operations, in the same order, as ``_apply``."""
        out = self.host.empty(images.shape) if out is None else out
        photometric = train and self.photometric
        scale, shift = self._scale_shift(out.device, from_uint8=not photometric)
        if photometric:
            jitter = draw_jitter(len(images), self.generator)
            factors, orders = jitter.factors, jitter.order.tolist()
        for i, image in enumerate(images.split(1)):
            x = out[i:i + 1]
            if photometric:
                torch.div(image, 255, out=x)
                for op in orders[i]:
                    self.operations[op](x, factors[i:i + 1, op], self.scratch)
                x.mul_(scale)
            else:
                torch.mul(image, scale, out=x)
            x.add_(shift)
        return out

    def _apply(self, images: torch.Tensor, train: bool) -> torch.Tensor:
        if train and self.photometric:
            x = jitter_(images.float().div_(255), draw_jitter(len(images), self.generator), operations=self.operations)
            scale, shift = self._scale_shift(x.device, from_uint8=False)
        else:
            x = images.float()
            scale, shift = self._scale_shift(x.device, from_uint8=True)
        return x.mul_(scale).add_(shift)
