"""Property tests of every loader parser: bad input interleaved with good never crashes a load or loses a good row.

Each example is a file of valid rows (the oracle knows what each must load as) shuffled with arbitrary bytes and
near-valid rows (a valid row cut short, with a broken id, dangling, repeated, or with absurd fields), plain or
gzipped. Every valid row must load as its documented value, and every count must add up:
``read == loaded + quarantined + duplicate`` for each label and type.

Valid ids start with ``V``, so they never collide with the near-valid rows (``N``) or the references to nowhere
(``D``); arbitrary bytes could in principle spell a valid id, but not in the examples' sizes.
"""

from __future__ import annotations

import gzip
import html
import json
import string
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.schema import GraphBatch
from loaders.amazon import MIN_TS, RELATED_2014, RELATED_2018, read_amazon
from loaders.edgelist import RELATION_NAMES, read_edgelist
from loaders.quarantine import Quarantine
from loaders.summary import LoadSummary

EXAMPLES = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
KEY = st.text(string.ascii_letters + string.digits, min_size=1, max_size=6)
TEXT = st.text(max_size=20)  # any code point but surrogates: controls, quotes, backslashes, RTL marks
GARBAGE = st.binary(max_size=80) | st.text(max_size=40).map(str.encode)  # bytes, and text that is UTF-8
NOT_AN_ID = st.sampled_from([None, "", "   ", 5, 1.5, True, ["V1"], {"asin": "V1"}])
ABSURD = {
    "price": st.sampled_from([-1, 1e7, float("inf"), "free", [1], True]),
    "title": st.sampled_from([5, ["t"], {"t": 1}]),
    "brand": st.sampled_from([5, ["b"]]),
    "categories": st.sampled_from(["Beauty", [[""]], [[1, 2]], [None]]),
    "related": st.sampled_from(["V1", [1], {"also_bought": "V1"}]),
}


@dataclass
class Loaded:
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    summary: LoadSummary = field(default_factory=LoadSummary)

    def by_key(self, name: str, key: str) -> dict[Any, dict[str, Any]]:
        return {r[key]: r for r in self.rows[name]}

    def pairs(self, name: str) -> dict[tuple[str, str], dict[str, Any]]:
        return {(r["src"], r["dst"]): r for r in self.rows[name]}


def write(path: Path, lines: list[bytes], gzipped: bool) -> Path:
    data = b"".join(line + b"\n" for line in lines)
    path.write_bytes(gzip.compress(data) if gzipped else data)
    return path


def collect(batches: Iterable[GraphBatch], summary: LoadSummary) -> Loaded:
    out = Loaded(summary=summary)
    for batch in batches:
        for name, table in (*batch.nodes.items(), *batch.rels.items()):
            out.rows[name].extend(table.to_pylist())
    return out


def assert_counts_add_up(loaded: Loaded) -> None:
    for name, c in (*loaded.summary.nodes.items(), *loaded.summary.rels.items()):
        assert c.read == c.loaded + c.quarantined + c.duplicate, (name, c)
        assert c.loaded == len(loaded.rows[name]), (name, c)


def text_of(value: str | None) -> str | None:
    """A title or brand as documented to load: HTML entities decoded, trimmed, empty as null."""
    return (html.unescape(value).strip() or None) if value else None


def f32(x: float | None) -> float | None:
    return None if x is None else float(np.float32(x))


# ------------------------------------------------------------------------------------------------ Amazon meta


@dataclass(frozen=True)
class Product:
    asin: str
    title: str | None
    brand: str | None
    price: float | None
    paths: list[list[str]]
    lists: dict[str, list[str]]  # relationship type -> listed asins (dangling ones and itself included)


@st.composite
def catalogs(draw: st.DrawFn, types: tuple[str, ...]) -> list[Product]:
    asins = ["V" + k for k in draw(st.lists(KEY, min_size=1, max_size=10, unique=True))]
    listed = st.lists(st.sampled_from([*asins, "Dnowhere", "Dgone"]), max_size=6)
    return [
        Product(
            asin=asin,
            title=draw(st.none() | TEXT),
            brand=draw(st.none() | TEXT),
            price=draw(st.none() | st.integers(0, 10**6) | st.floats(0, 1e6)),
            paths=draw(st.lists(st.lists(KEY, min_size=1, max_size=3), max_size=2)),
            lists={t: draw(listed) for t in types},
        )
        for asin in asins
    ]


def record_2014(p: Product) -> dict[str, Any]:
    related = {key: p.lists[t] for key, t in RELATED_2014.items()}
    return {"asin": p.asin, "title": p.title, "brand": p.brand, "price": p.price, "categories": p.paths} | {
        "related": related
    }


def record_2018(p: Product) -> dict[str, Any]:
    out: dict[str, Any] = {"asin": p.asin, "title": p.title, "brand": p.brand}
    if p.price is not None:
        out["price"] = f"${p.price:,.2f}"  # as the 2018 pages show it
    out["category"] = p.paths[0] if p.paths else []
    return out | {key: p.lists[t] for key, t in RELATED_2018.items()}


def price_2018(p: Product) -> float | None:
    return None if p.price is None else float(f"{p.price:.2f}")


@st.composite
def noise(draw: st.DrawFn, valid: list[bytes], records: list[dict[str, Any]], encode: Any) -> list[bytes]:
    """Arbitrary bytes, valid lines cut short, records with a broken or missing id, records with absurd fields."""
    lines = draw(st.lists(GARBAGE, max_size=6))
    for line in draw(st.lists(st.sampled_from(valid), max_size=3)):
        lines.append(line[: draw(st.integers(1, len(line) - 1))])
    for record in draw(st.lists(st.sampled_from(records), max_size=3)):
        broken = dict(record)
        if draw(st.booleans()):
            broken["asin"] = draw(NOT_AN_ID)
        else:
            del broken["asin"]
        lines.append(encode(broken))
    for record in draw(st.lists(st.sampled_from(records), max_size=3)):
        field_, value = draw(
            st.sampled_from(sorted(ABSURD)).flatmap(lambda f: st.tuples(st.just(f), ABSURD[f]))
        )
        lines.append(encode(record | {"asin": "N" + record["asin"], field_: value}))
    return lines


def encode_2014(record: dict[str, Any]) -> bytes:
    return repr(record).encode()


def encode_2018(record: dict[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode()


def assert_products_loaded(loaded: Loaded, catalog: list[Product], layout: str) -> None:
    products = loaded.by_key("Product", "asin")
    known = {p.asin for p in catalog}
    for p in catalog:
        price = price_2018(p) if layout == "2018" else p.price
        assert products[p.asin] == {
            "asin": p.asin,
            "title": text_of(p.title),
            "brand": text_of(p.brand),
            "price": price,
        }
        brand = text_of(p.brand)
        if brand is not None:
            assert (p.asin, brand) in loaded.pairs("MADE_BY")
        paths = p.paths[:1] if layout == "2018" else p.paths
        for path in paths:
            for k in range(len(path)):
                assert (p.asin, "/".join(path[: k + 1])) in loaded.pairs("IN_CATEGORY")
        for type_, listed in p.lists.items():
            for other in listed:
                if other in known and other != p.asin:
                    assert (p.asin, other) in loaded.pairs(type_)


@EXAMPLES
@given(data=st.data(), layout=st.sampled_from(["2014", "2018"]), gzipped=st.booleans())
def test_meta_loads_every_valid_product_whatever_surrounds_it(
    tmp_path: Path, data: st.DataObject, layout: str, gzipped: bool
) -> None:
    types = tuple(RELATED_2014.values()) if layout == "2014" else tuple(RELATED_2018.values())
    catalog = data.draw(catalogs(types))
    to_record, encode = (record_2014, encode_2014) if layout == "2014" else (record_2018, encode_2018)
    records = [to_record(p) for p in catalog]
    valid = [encode(r) for r in records]
    lines = data.draw(st.permutations(valid + data.draw(noise(valid, records, encode))))
    meta = write(tmp_path / "meta", lines, gzipped)
    summary = LoadSummary()
    loaded = collect(read_amazon(meta, None, Quarantine(None), summary), summary)
    assert_counts_add_up(loaded)
    assert_products_loaded(loaded, catalog, layout)


# ---------------------------------------------------------------------------------------------------- reviews


@st.composite
def reviews(draw: st.DrawFn, asins: list[str]) -> list[dict[str, Any]]:
    keys = draw(
        st.lists(
            st.tuples(KEY.map(lambda k: "V" + k), st.sampled_from(asins)),
            min_size=1,
            max_size=12,
            unique=True,
        )
    )
    return [
        {
            "reviewerID": reviewer,
            "asin": asin,
            "overall": draw(st.integers(0, 5) | st.floats(0, 5)),
            "unixReviewTime": draw(st.integers(MIN_TS, 1_700_000_000)),
            "reviewText": draw(TEXT),
        }
        for reviewer, asin in keys
    ]


@st.composite
def review_noise(draw: st.DrawFn, valid: list[bytes], records: list[dict[str, Any]]) -> list[bytes]:
    """Arbitrary bytes, cut lines, broken or dangling ids, exact repeats, and absurd ratings and times."""
    lines = draw(st.lists(GARBAGE, max_size=6))
    lines += [
        line[: draw(st.integers(1, len(line) - 1))]
        for line in draw(st.lists(st.sampled_from(valid), max_size=3))
    ]
    lines += draw(st.lists(st.sampled_from(valid), max_size=3))  # repeats: identical, so either copy may win
    for record in draw(st.lists(st.sampled_from(records), max_size=4)):
        key = draw(st.sampled_from(["reviewerID", "asin"]))
        broken = record | {key: draw(NOT_AN_ID | st.just("Dnowhere"))}
        lines.append(encode_2018(broken))
    for record in draw(st.lists(st.sampled_from(records), max_size=3)):
        absurd = {
            "overall": draw(st.sampled_from([-1, 6, "five", None])),
            "unixReviewTime": draw(st.sampled_from([0, 10**12, "x"])),
        }
        lines.append(encode_2018(record | {"reviewerID": "N" + record["reviewerID"]} | absurd))
    return lines


@EXAMPLES
@given(data=st.data(), gzipped=st.booleans())
def test_reviews_load_every_valid_review_whatever_surrounds_it(
    tmp_path: Path, data: st.DataObject, gzipped: bool
) -> None:
    asins = ["VA", "VB", "VC"]
    meta = write(tmp_path / "meta", [encode_2018({"asin": a}) for a in asins], gzipped=False)
    records = data.draw(reviews(asins))
    valid = [encode_2018(r) for r in records]
    lines = data.draw(st.permutations(valid + data.draw(review_noise(valid, records))))
    path = write(tmp_path / "reviews", lines, gzipped)
    summary = LoadSummary()
    loaded = collect(read_amazon(meta, path, Quarantine(None), summary), summary)
    assert_counts_add_up(loaded)
    reviewed = loaded.pairs("REVIEWED")
    customers = loaded.by_key("Customer", "id")
    for r in records:
        row = reviewed[(r["reviewerID"], r["asin"])]
        assert (row["ts"], row["rating"]) == (r["unixReviewTime"], f32(r["overall"]))
        assert r["reviewerID"] in customers


# -------------------------------------------------------------------------------------------------- edge lists


@st.composite
def edges(draw: st.DrawFn) -> list[tuple[str, str, str | None, float | None]]:
    """(src, dst, relation name as written or None, weight or None), distinct by (type, src, dst)."""
    names = st.sampled_from(sorted(RELATION_NAMES)).flatmap(
        lambda n: st.sampled_from([n, n.upper(), n.title()])
    )
    rows = draw(
        st.lists(
            st.tuples(
                KEY.map(lambda k: "V" + k),
                KEY.map(lambda k: "V" + k),
                st.none() | names,
                st.none() | st.floats(0, 1e6) | st.integers(0, 10**6),
            ).filter(lambda r: r[0] != r[1]),
            min_size=1,
            max_size=12,
            unique_by=lambda r: (edge_type(r[2]), r[0], r[1]),
        )
    )
    return rows


def edge_type(name: str | None) -> str:
    return RELATION_NAMES[name.lower()] if name else "ALSO_BOUGHT"


def edge_line(cells: Iterable[object], delimiter: str) -> bytes:
    return delimiter.join("" if c is None else str(c) for c in cells).encode()


@st.composite
def edge_noise(draw: st.DrawFn, rows: list[tuple[Any, ...]], delimiter: str) -> list[bytes]:
    """Arbitrary bytes, and rows without a dst, of an unknown relation, a bad weight, a self loop, extra cells."""
    lines = draw(st.lists(GARBAGE, max_size=6))
    for src, dst, rel, weight in draw(st.lists(st.sampled_from(rows), max_size=6)):
        broken = draw(
            st.sampled_from(
                [
                    (src, "", rel, weight),
                    (src, dst, "friend_of", weight),
                    (src, dst, rel, draw(st.sampled_from(["-1", "nan", "inf", "heavy"]))),
                    (src, src, rel, weight),
                    (src, dst, rel, weight, "extra"),
                ]
            )
        )
        lines.append(edge_line(broken, delimiter))
    return lines


@EXAMPLES
@given(data=st.data(), delimiter=st.sampled_from(["\t", ","]), header=st.booleans(), gzipped=st.booleans())
def test_edge_lists_load_every_valid_edge_whatever_surrounds_it(
    tmp_path: Path, data: st.DataObject, delimiter: str, header: bool, gzipped: bool
) -> None:
    rows = data.draw(edges())
    valid = [edge_line(r, delimiter) for r in rows]
    lines = data.draw(st.permutations(valid + data.draw(edge_noise(rows, delimiter))))
    if header:
        lines.insert(0, edge_line(["src", "dst", "relation", "weight"], delimiter))
    path = write(tmp_path / "edges", lines, gzipped)
    summary = LoadSummary()
    loaded = collect(read_edgelist(path, Quarantine(None), summary), summary)
    assert_counts_add_up(loaded)
    for src, dst, rel, weight in rows:
        row = loaded.pairs(edge_type(rel))[(src, dst)]
        assert row["weight"] == f32(1.0 if weight is None else float(weight))
