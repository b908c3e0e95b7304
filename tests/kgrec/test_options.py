"""The options commands share: open_snapshot reads a store's graph and always closes the store."""

from __future__ import annotations

import pytest

from graph.local_store import LocalStore
from kgrec import options
from loaders.synthetic import synthetic_batches


class _Recording:
    def __init__(self, store: LocalStore) -> None:
        self.store, self.closed = store, False

    def snapshot(self):
        return self.store.snapshot()

    def close(self) -> None:
        self.closed = True


def test_open_snapshot_reads_the_graph_and_closes_the_store(tmp_path, monkeypatch) -> None:
    LocalStore(tmp_path).write(synthetic_batches(50, 100, n_categories=5))
    opened: list[_Recording] = []

    def open_store(spec: str) -> _Recording:
        opened.append(_Recording(LocalStore(tmp_path)))
        return opened[-1]

    monkeypatch.setattr(options, "open_store", open_store)
    with options.open_snapshot(f"local:{tmp_path}") as snap:
        assert snap.n("Product") == 50 and not opened[-1].closed
    assert opened[-1].closed
    with pytest.raises(RuntimeError), options.open_snapshot(f"local:{tmp_path}"):
        raise RuntimeError("a command failed mid-way")
    assert opened[-1].closed
