"""The loader against the measured facts of the real Amazon Beauty files (../shared/data/README.md)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
import pytest

from loaders.amazon import read_amazon
from loaders.quarantine import Quarantine
from loaders.summary import LoadSummary


@pytest.mark.slow
def test_full_beauty_set_matches_the_measured_counts(beauty: Path) -> None:
    summary = LoadSummary()
    quarantine = Quarantine(None)
    level2: set[str] = set()
    reviewed_without_ts = 0
    for batch in read_amazon(
        beauty / "meta_Beauty.json.gz", beauty / "reviews_Beauty_5.json.gz", quarantine, summary
    ):
        if "Category" in batch.nodes:
            level2 |= {c for c in batch.nodes["Category"].column("id").to_pylist() if c.count("/") == 1}
        if "REVIEWED" in batch.rels:
            reviewed_without_ts += batch.rels["REVIEWED"].column("ts").null_count
            assert pc.all(pc.is_null(batch.rels["REVIEWED"].column("rating"))).as_py()  # none survive there

    loaded = {name: c.loaded for name, c in (*summary.nodes.items(), *summary.rels.items())}
    assert loaded["Product"] == 12_101
    assert loaded["ALSO_VIEWED"] == 155_350
    assert loaded["REVIEWED"] == 198_502
    assert loaded["Customer"] == 22_363
    # The README counts 239,345 also_bought pairs; one of them is B002TLT2TS listing itself, a self loop.
    assert summary.rels["ALSO_BOUGHT"].read == 239_345
    assert loaded["ALSO_BOUGHT"] == 239_344
    assert quarantine.counts == {"self_loop": 1}
    # The README says 37 level-2 categories; the file has 38 (c0 .. c37), and each product one path.
    assert len(level2) == 38
    assert loaded["IN_CATEGORY"] == 2 * 12_101
    # the last two reviews of each customer carry no unixReviewTime
    assert reviewed_without_ts == 2 * 22_363
