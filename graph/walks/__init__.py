"""Pixie-style random-walk candidate generation over the product graph, with three backends.

Pixie (C. Eksombatchai et al., "Pixie: A System for Recommending 3+ Billion Items to 200+ Million Users in
Real-Time", WWW 2018) answers "what goes with these items?" by random walks with restart from the query items over
a bipartite item-user graph, counting how often each item is visited. This package does the same over the product
knowledge graph. One module per concept:

- :mod:`~graph.walks.walk_graph`: :class:`WalkGraph`, the homogeneous CSR walked for one relation, and the
  relation bias (:data:`RELATION_WEIGHTS`);
- :mod:`~graph.walks.params`: :class:`WalkParams`, the knobs of a walk;
- :mod:`~graph.walks.walker`: :class:`Walker`, the walk itself (single and session queries, batches, raw paths);
- :mod:`~graph.walks.visits`: :class:`ProductVisits`, session queries answered from each product's kept walk;
- :mod:`~graph.walks.results`: what walks return (:class:`Candidates`, :class:`BatchCandidates`,
  :class:`WalkPaths`);
- :mod:`~graph.walks.counts`: visit counting and top-k ranking, shared by the kernels and the walker;
- :mod:`~graph.walks.kernel`: the :class:`~graph.walks.kernel.Kernel` protocol each backend implements;
  :mod:`~graph.walks.numpy_kernel`, :mod:`~graph.walks.torch_kernel` and :mod:`~graph.walks.cugraph_kernel`
  implement it, and :mod:`~graph.walks.backends` picks one (:func:`choose_backend`);
- :mod:`~graph.walks.artifact`: the batch candidates file (:func:`save_candidates`, :func:`load_candidates`).

Speed: on a 2-core machine numpy and torch-CPU batch walks run at tens of millions of steps per second, and a
100,000-step single query answers in milliseconds; ``bench/walk_speed.py`` and ``bench/walk_gpu.py`` measure.
The package imports only numpy (and graph.snapshot's pyarrow) at load time; torch and pylibcugraph are imported
when a backend needs them, so the walk and GNN code import without the API's dependencies or RAPIDS.
"""

from graph.walks.artifact import load_candidates, save_candidates
from graph.walks.backends import BACKENDS, choose_backend
from graph.walks.cugraph_kernel import CugraphCall, cugraph_arguments
from graph.walks.params import WalkParams
from graph.walks.results import BatchCandidates, Candidates, WalkPaths
from graph.walks.visits import ProductVisits
from graph.walks.walk_graph import BOTH_WAYS, RELATION_WEIGHTS, WalkGraph
from graph.walks.walker import Walker

__all__ = [
    "BACKENDS",
    "BOTH_WAYS",
    "RELATION_WEIGHTS",
    "BatchCandidates",
    "Candidates",
    "CugraphCall",
    "ProductVisits",
    "WalkGraph",
    "WalkParams",
    "WalkPaths",
    "Walker",
    "choose_backend",
    "cugraph_arguments",
    "load_candidates",
    "save_candidates",
]
