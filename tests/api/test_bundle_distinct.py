"""A bundle is not the product again, over HTTP: the anchor's own similar products are left out (pins stay), and
`diverse` spreads a bundle over the model's groups of what a product is for."""

from __future__ import annotations

import numpy as np

from tests.api import fixture_graph as fg
from tests.api.server import start_server, stop_server

ANCHOR = "C00"
# C00's model: complements that start with two of its own substitutes; groups put L00 and L01 together
COMPLEMENTS = ["C02", "L00", "C01", "L01", "L02", "M00", "B00"]
GROUPS = {"L00": 1, "L01": 1, "L02": 2, "M00": 3, "B00": 4}


def artifact():
    art = fg.artifact()
    ids = list(art.product_ids)
    pos = {p: i for i, p in enumerate(ids)}
    k = len(COMPLEMENTS)
    idx = np.full((len(ids), k), -1, np.int32)
    sc = np.zeros((len(ids), k), np.float32)
    idx[:, : art.neighbors["complement"].shape[1]] = art.neighbors["complement"]
    sc[:, : art.scores["complement"].shape[1]] = art.scores["complement"]
    idx[pos[ANCHOR]] = [pos[p] for p in COMPLEMENTS]
    sc[pos[ANCHOR]] = np.linspace(0.9, 0.3, k)
    art.neighbors["complement"], art.scores["complement"] = idx, sc
    groups = 100 + np.arange(len(ids))  # every product its own group, but for GROUPS
    for p, g in GROUPS.items():
        groups[pos[p]] = g
    art.groups = groups
    return art


BUNDLE = '{ bundle(productId: "C00", k: 4, diverse: %s) { product { id } } }'
SIMILAR = '{ similar(productId: "C00", k: 10) { product { id } } }'


def ids(data: dict, field: str) -> list[str]:
    return [r["product"]["id"] for r in data[field]]


def test_bundle_leaves_out_the_products_similar_list_and_spreads_over_groups(tmp_path) -> None:
    server = start_server(tmp_path / "on", art=artifact(), extra_env={"KGREC_BUNDLE_EXCLUDE_SIMILAR": "10"})
    try:
        similar = ids(server.data(SIMILAR), "similar")
        assert {"C01", "C02"} <= set(similar)  # the fixture puts two of C00's substitutes in its bundle list
        assert ids(server.data(BUNDLE % "false"), "bundle") == ["L00", "L01", "L02", "M00"]
        # one per group first: L01 shares L00's group, so it comes after M00
        assert ids(server.data(BUNDLE % "true"), "bundle") == ["L00", "L02", "M00", "B00"]
        # a merchandiser's pin of a substitute stays: the exclusion is the model's rule, the pin a decision
        key = next(k for k, role in fg.API_KEYS.items() if role == "merchandiser")
        pin = server.gql('mutation { pin(productId: "C00", otherId: "C01", relation: COMPLEMENT) }', key=key)
        assert "errors" not in pin, pin
        server.wait_for_rules_read()
        assert ids(server.data(BUNDLE % "false"), "bundle")[:2] == ["C01", "L00"]
    finally:
        stop_server(server)


def test_the_exclusion_is_a_setting_off_by_default(tmp_path) -> None:
    """Off by default: a model's own lists carry the push-down its run chose on validation pairs."""
    server = start_server(tmp_path / "off", art=artifact())
    try:
        assert ids(server.data(BUNDLE % "false"), "bundle") == ["C02", "L00", "C01", "L01"]
    finally:
        stop_server(server)
