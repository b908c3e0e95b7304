"""Which backend walks: ``backend="auto"|"cugraph"|"torch"|"numpy"``, resolved once per :class:`~graph.walks.walker.Walker`.

Auto picks cuGraph when pylibcugraph imports and a CUDA GPU is present, else torch when CUDA is present, else
numpy; :attr:`~graph.walks.walker.Walker.reason` and a log line say why.
"""

from __future__ import annotations

from graph.walks.cugraph_kernel import CugraphKernel
from graph.walks.kernel import Kernel
from graph.walks.numpy_kernel import NumpyKernel
from graph.walks.torch_kernel import TorchKernel
from graph.walks.walk_graph import WalkGraph

BACKENDS = ("auto", "cugraph", "torch", "numpy")


def choose_backend(requested: str = "auto") -> tuple[str, str]:
    """(backend, reason): what `requested` resolves to on this machine, and why."""
    if requested not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, not {requested!r}")
    if requested != "auto":
        return requested, f"requested {requested}"
    cuda = _cuda_available()
    try:
        import pylibcugraph  # noqa: F401

        have_cugraph = True
    except ImportError:
        have_cugraph = False
    if have_cugraph and cuda:
        return "cugraph", "auto: pylibcugraph imports and a CUDA GPU is present"
    if cuda:
        return "torch", "auto: a CUDA GPU is present but pylibcugraph does not import, so torch on CUDA"
    return "numpy", "auto: no CUDA GPU, so numpy on the CPU"


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def make_kernel(backend: str, graph: WalkGraph, device: str | None) -> Kernel:
    """The kernel of a resolved `backend` (not "auto") over `graph`; `device` is torch's (default: CUDA if any)."""
    if backend == "numpy":
        return NumpyKernel(graph)
    if backend == "torch":
        return TorchKernel(graph, device)
    return CugraphKernel(graph)
