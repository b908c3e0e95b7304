"""Hot reload under load: a newly promoted model serves with no failed request; a bad one is refused."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.api import fixture_graph as fg
from tests.api.server import Server, start_server, stop_server
from tests.reliability.support import wait_for

QUERY = '{ bundle(productId: "C00", k: 5, diverse: false) { product { id } } }'
V1 = fg.model_lists()["complement"]["C00"]  # the model of v1, not the observed list
V2 = V1[::-1]


@pytest.fixture(scope="module")
def reloading(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = start_server(tmp_path_factory.mktemp("reload"))
    yield s
    assert stop_server(s) == 0, "SIGTERM must end in a graceful shutdown with status 0"


class Stream:
    """Sends the same query back to back from a thread, recording every answer and every failure."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answers: list[list[str]] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                try:
                    r = client.post(self.url + "/graphql", json={"query": QUERY})
                    body = r.json()
                    if r.status_code != 200 or "errors" in body:
                        self.failures.append(f"{r.status_code}: {r.text[:200]}")
                    else:
                        self.answers.append([x["product"]["id"] for x in body["data"]["bundle"]])
                except httpx.HTTPError as e:
                    self.failures.append(repr(e))

    def __enter__(self) -> Stream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


def test_promoted_model_swaps_in_without_a_failed_request(reloading: Server) -> None:
    assert reloading.ready()["model"]["version"] == "v1"
    with Stream(reloading.url) as stream:
        wait_for(lambda: len(stream.answers) >= 20, "requests before the promotion")
        fg.add_run(reloading.registry, "v2", fg.artifact(reverse=True))
        wait_for(lambda: stream.answers and stream.answers[-1] == V2, "the new model's answer")
        n = len(stream.answers)
        wait_for(lambda: len(stream.answers) >= n + 20, "requests after the promotion")
    assert stream.failures == []
    assert stream.answers[0] == V1 and stream.answers[-1] == V2
    assert {tuple(a) for a in stream.answers} == {tuple(V1), tuple(V2)}  # never a mix of the two
    assert reloading.ready()["model"]["version"] == "v2"


def corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\x00" * 64
    path.write_bytes(bytes(data))


def test_corrupt_and_incompatible_models_are_refused_while_serving_continues(reloading: Server) -> None:
    served = reloading.ready()["model"]["version"]
    registry = reloading.registry
    with Stream(reloading.url) as stream:
        wait_for(lambda: len(stream.answers) >= 10, "requests before")
        # a run damaged on disk after it was promoted
        fg.add_run(registry, "v3", fg.artifact())
        corrupt(registry.runs / "v3" / "serving.npz")
        wait_for(lambda: "v3" in reloading.ready()["refused"], "the corrupt run to be refused")
        assert "checksum" in reloading.ready()["refused"]["v3"]
        # a well-formed run trained on another catalog
        other = fg.artifact()
        other.product_ids = np.asarray([f"X{i}" for i in range(len(other.product_ids))], dtype=object)
        fg.add_run(registry, "v4", other)
        wait_for(lambda: "v4" in reloading.ready()["refused"], "the incompatible run to be refused")
        assert "not in the catalog" in reloading.ready()["refused"]["v4"]
        n = len(stream.answers)
        wait_for(lambda: len(stream.answers) >= n + 10, "requests after")
    assert stream.failures == []
    assert reloading.ready()["model"]["version"] == served
    log = reloading.log.read_text()
    assert "model v3 refused" in log and "model v4 refused" in log
    # and a good model after the bad ones still gets in
    fg.add_run(registry, "v5", fg.artifact())
    wait_for(lambda: reloading.ready()["model"]["version"] == "v5", "v5 to serve")
    assert [r["product"]["id"] for r in reloading.data(QUERY)["bundle"]] == V1


def test_metrics_count_reloads(reloading: Server) -> None:
    text = httpx.get(reloading.url + "/metrics").text
    assert 'kgrec_model_reloads_total{outcome="refused"}' in text
    assert 'kgrec_model_info{source="registry",version="' in text
