"""`kgrec candidates` writes the batch candidates artifact, which loads back without pickle."""

from __future__ import annotations

import argparse

from graph.walks import load_candidates
from tests.graph.walks import walk_fixture as wf


def test_candidates_command_writes_the_artifact(tmp_path):
    from graph.local_store import LocalStore
    from kgrec.commands import candidates

    LocalStore(tmp_path / "store").write([wf.small_batch()])
    parser = argparse.ArgumentParser()
    candidates.add_parser(parser.add_subparsers())
    out = tmp_path / "c.npz"
    args = parser.parse_args(
        [
            "candidates",
            "--store",
            f"local:{tmp_path / 'store'}",
            "--relation",
            "complement",
            "--k",
            "3",
            "--backend",
            "numpy",
            "--out",
            str(out),
            "--steps",
            "400",
            "--seed",
            "1",
            "--no-progress",
        ]
    )
    assert candidates.run(args) == 0
    result, ids, meta = load_candidates(out)
    assert (
        result.candidates.shape == (5, 3) and meta["backend"] == "numpy" and meta["relation"] == "complement"
    )
    row = list(ids).index("a")
    assert {ids[c] for c in result.candidates[row][:2]} == {"b", "c"}
