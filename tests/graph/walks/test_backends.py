"""The backend choice says what it chose and why; backends other than numpy are imported only when chosen."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from graph.walks import Walker, backends, choose_backend
from tests.graph.walks import walk_fixture as wf
from tests.graph.walks.test_cugraph_kernel import check_cugraph_walks

REPO = Path(__file__).resolve().parents[3]


def test_auto_backend_says_what_it_chose_and_why(monkeypatch, caplog):
    monkeypatch.setattr(backends, "_cuda_available", lambda: False)
    assert choose_backend("auto") == ("numpy", "auto: no CUDA GPU, so numpy on the CPU")
    with caplog.at_level("INFO", logger="kgrec.walks"):
        w = Walker(wf.clusters())
    assert w.backend == "numpy" and "no CUDA" in w.reason and "backend=numpy" in caplog.text
    monkeypatch.setattr(backends, "_cuda_available", lambda: True)
    assert choose_backend("auto")[0] == ("cugraph" if wf.importable("pylibcugraph") else "torch")
    with pytest.raises(ValueError):
        choose_backend("spark")


def test_cugraph_backend_needs_rapids():
    """Without RAPIDS the backend says so; with it (a GPU machine), the real one walks as the stand-in did."""
    pytest.importorskip("torch")
    if wf.importable("pylibcugraph"):
        check_cugraph_walks()
        return
    with pytest.raises(ImportError):
        Walker(wf.clusters(), "cugraph")


def test_walks_import_without_the_serving_stack():
    code = (
        "import sys, graph.walks, loaders.synthetic\n"
        "heavy = {'torch', 'tqdm', 'strawberry', 'starlette', 'neo4j'} & set(sys.modules)\n"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
