"""The public Amazon product data (McAuley et al., 2014 and 2018 releases) as validated graph batches.

Both layouts, gzipped or plain, are read line by line and never held whole:

- 2014 meta: Python dict literals with ``asin, title, brand, price, categories`` (a list of paths),
  ``related.{also_bought, also_viewed, bought_together}``; 2018 meta: strict JSON with ``asin, title, brand,
  price`` (often text such as ``"$12.99"``), ``category`` (one flat path), ``also_buy, also_view``.
- reviews, both years: JSON with ``reviewerID, asin, overall, unixReviewTime``.

Rules (the reasons are those of :mod:`loaders.quarantine`):

- A row without a usable id, that does not parse, or that names a product the meta file lacks (``dangling``) is
  quarantined; a product listing itself is a ``self_loop``. The meta file is read twice for this: a first pass
  collects the ASINs of the products that will load (a set of strings), so every reference is checked exactly.
- An absurd field (price negative, non-finite or over 1e6; rating outside 0..5; a timestamp before 1990 or in
  the future) is set to null and noted in the quarantine: the product or review is real, only the value is
  not, and dropping the row would also orphan every edge that names it. A missing field is simply null.
- A product line whose ASIN was seen before is a duplicate: the first line wins whole, later ones are skipped
  (their lists are not merged). A repeated (reviewer, product) review, or an ASIN repeated within one list, is a
  duplicate too.
- Price ranges (``"$10.99 - $24.99"``) load as their low end, the "from" price a shop shows.
- Category ``id`` is the path joined by ``/`` up to the element (``Beauty/c12``), ``name`` the element.
- Without a meta file, reviewed products are created from the reviews (title null), so reviews alone still
  make a graph.
"""

from __future__ import annotations

import ast
import html
import json
import re
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from graph.schema import GraphBatch
from loaders.quarantine import (
    BAD_BRAND,
    BAD_CATEGORIES,
    BAD_ID,
    BAD_PRICE,
    BAD_RATING,
    BAD_RELATED,
    BAD_TITLE,
    BAD_TS,
    DANGLING,
    MALFORMED,
    MISSING_ID,
    SELF_LOOP,
    Quarantine,
    read_lines,
)
from loaders.summary import BatchBuilder, LoadError, LoadSummary

MAX_PRICE = 1e6
MIN_TS = 631152000  # 1990-01-01 UTC: Amazon opened in 1995, so anything earlier is a broken clock
FUTURE_SLACK_S = 86400  # a day, for clocks and time zones
# 2014 lists live under `related`, 2018 lists at the top level; both are directed product -> listed product.
RELATED_2014 = {
    "also_bought": "ALSO_BOUGHT",
    "also_viewed": "ALSO_VIEWED",
    "bought_together": "BOUGHT_TOGETHER",
}
RELATED_2018 = {"also_buy": "ALSO_BOUGHT", "also_view": "ALSO_VIEWED"}
_JSON_START = re.compile(r'\s*\{\s*"')
_PRICE = re.compile(r"\$?\s*(\d[\d,]*(?:\.\d*)?|\.\d+)(?:\s*-\s*\$?\s*(?:\d[\d,]*(?:\.\d*)?|\.\d+))?")


def read_amazon(
    meta: Path | None,
    reviews: Path | None,
    quarantine: Quarantine,
    summary: LoadSummary,
    batch_size: int = 50_000,
) -> Iterator[GraphBatch]:
    """Stream the products of `meta` and the reviews of `reviews` (either may be None) as graph batches.

    Counts go to `summary`, bad rows to `quarantine`. Raises :class:`LoadError` when a file is missing or has no
    usable line at all (a wrong file is a mistake to stop on, not a load of zero rows).
    """
    if meta is None and reviews is None:
        raise LoadError("nothing to read: give a meta file, a reviews file, or both")
    for path in (meta, reviews):
        if path is not None and not path.is_file():
            raise LoadError(f"{path}: no such file")
    out = BatchBuilder(summary, batch_size)
    asins = None
    if meta is not None:
        asins = _meta_asins(meta)
        usable = yield from _read_meta(meta, asins, quarantine, summary, out)
        if not usable:
            raise LoadError(f"{meta}: no usable product line (see the quarantine)")
        yield from out.drain()  # all of the meta file goes out before a bad reviews file can stop the load
    if reviews is not None:
        usable = yield from _read_reviews(reviews, asins, quarantine, summary, out)
        if not usable:
            raise LoadError(f"{reviews}: no usable review line (see the quarantine)")
    yield from out.drain()


def parse_record(text: str) -> object:
    """One line as a Python value: JSON where the line looks like JSON, else a Python literal; None if neither.

    Measured on the Beauty meta file, ``json.loads`` is about 6x faster than ``ast.literal_eval`` but cannot read
    the single-quoted 2014 literals, so the first character after ``{`` picks the parser and a line that fails as
    JSON still gets its chance as a literal. ``ast.literal_eval`` only builds literals: never ``eval``.
    """
    if _JSON_START.match(text):
        try:
            return json.loads(text)
        except ValueError:
            pass
    try:
        return ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


class _Bad(NamedTuple):
    """Why a line is quarantined (a reason constant of loaders/quarantine.py)."""

    reason: str


def _record(text: str, key: str) -> tuple[dict[str, Any], str] | _Bad:
    """(record, its id under `key`) for a usable line, else why it is quarantined."""
    record = parse_record(text)
    if not isinstance(record, dict):
        return _Bad(MALFORMED)
    value = _id(record.get(key))
    return value if isinstance(value, _Bad) else (record, value)


def _id(value: object) -> str | _Bad:
    if value is None or (isinstance(value, str) and not value.strip()):
        return _Bad(MISSING_ID)
    if not isinstance(value, str):
        return _Bad(BAD_ID)
    return value


def _meta_asins(path: Path) -> set[str]:
    """The ASINs of the product lines that will load: the first pass, which quarantines nothing."""
    asins: set[str] = set()
    for _, text in read_lines(path, Quarantine(None)):
        if text is not None:
            parsed = _record(text, "asin")
            if not isinstance(parsed, _Bad):
                asins.add(parsed[1])
    return asins


def _read_meta(
    path: Path, asins: set[str], quarantine: Quarantine, summary: LoadSummary, out: BatchBuilder
) -> Generator[GraphBatch, None, int]:
    """The second pass over the meta file; returns how many products loaded."""
    products = summary.node("Product")
    seen: set[str] = set()
    categories: set[str] = set()
    brands: set[str] = set()
    for number, text in read_lines(path, quarantine):
        products.read += 1
        if text is None:
            products.quarantined += 1
            continue
        parsed = _record(text, "asin")
        if isinstance(parsed, _Bad):
            quarantine.add(path, number, parsed.reason, text)
            products.quarantined += 1
            continue
        record, asin = parsed
        if asin in seen:
            products.duplicate += 1
            continue
        seen.add(asin)
        notes: list[str] = []
        # Amazon's titles and brands carry HTML entities ("Chevron &amp; Teardrop"): store the text people read
        title = _unescape(_string(record.get("title"), BAD_TITLE, notes))
        brand = _unescape(_string(record.get("brand"), BAD_BRAND, notes))
        price = _price(record.get("price"), notes)
        paths = _category_paths(record, notes)
        lists = _related_lists(record, notes)
        for note in notes:
            quarantine.add(path, number, note, text)
        products.nulled += bool(notes)
        out.node("Product", (asin, title, brand, price))
        if brand is not None:
            if brand not in brands:
                brands.add(brand)
                summary.node("Brand").read += 1
                out.node("Brand", (brand,))
            summary.rel("MADE_BY").read += 1
            out.rel("MADE_BY", (asin, brand))
        _categories(asin, paths, categories, summary, out)
        for type_, listed in lists:
            _related(path, number, asin, type_, listed, asins, quarantine, summary, out)
        if out.full:
            yield from out.drain()
    return len(seen)


def _string(value: object, reason: str, notes: list[str]) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    notes.append(reason)
    return None


def _unescape(value: str | None) -> str | None:
    return html.unescape(value).strip() or None if value else value


def _number(value: object) -> float | None:
    """A float from a number or a numeric string, None from anything else (True is no number here)."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            return float(value.strip())
    except (ValueError, OverflowError):
        pass
    return None


def _price(value: object, notes: list[str]) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        match = _PRICE.fullmatch(value.strip())
        price = float(match.group(1).replace(",", "")) if match else None
    else:
        price = _number(value)
    if price is None or not (0 <= price <= MAX_PRICE):  # NaN fails every comparison
        notes.append(BAD_PRICE)
        return None
    return price


def _category_paths(record: dict, notes: list[str]) -> list[list[str]]:
    """The product's category paths: 2014 ``categories`` (a list of paths), 2018 ``category`` (one path)."""
    raw = record.get("categories")
    if raw is None:
        flat = record.get("category")
        raw = None if flat is None or flat == [] else [flat]
    if raw is None:
        return []
    if not isinstance(raw, list):
        notes.append(BAD_CATEGORIES)
        return []
    paths = []
    for p in raw:
        if isinstance(p, list) and p and all(isinstance(e, str) and e.strip() for e in p):
            paths.append(p)
        else:
            notes.append(BAD_CATEGORIES)
    return paths


def _categories(
    asin: str, paths: list[list[str]], known: set[str], summary: LoadSummary, out: BatchBuilder
) -> None:
    """Category nodes and SUBCATEGORY_OF for new path prefixes, and IN_CATEGORY to every node of every path.

    The first path's nodes come last, root to leaf, so the last row of a product is the deepest category of its
    first path: the one ``Snapshot.product_category()`` reads.
    """
    ids = [["/".join(p[: k + 1]) for k in range(len(p))] for p in paths]
    for p, path_ids in zip(paths, ids, strict=True):
        for k, cid in enumerate(path_ids):
            if cid in known:
                continue
            known.add(cid)
            summary.node("Category").read += 1
            out.node("Category", (cid, p[k]))
            if k:
                summary.rel("SUBCATEGORY_OF").read += 1
                out.rel("SUBCATEGORY_OF", (cid, path_ids[k - 1]))
    if not ids:
        return
    first = ids[0]
    rows = list(dict.fromkeys(c for path_ids in ids[1:] for c in path_ids if c not in first)) + first
    counts = summary.rel("IN_CATEGORY")
    for cid in rows:
        counts.read += 1
        out.rel("IN_CATEGORY", (asin, cid))


def _related_lists(record: dict, notes: list[str]) -> list[tuple[str, list]]:
    """(relationship type, listed values) of both layouts; a container of the wrong shape is noted and skipped."""
    found: list[tuple[str, object]] = []
    related = record.get("related")
    if isinstance(related, dict):
        found += [(type_, related[key]) for key, type_ in RELATED_2014.items() if key in related]
    elif related is not None:
        notes.append(BAD_RELATED)
    found += [(type_, record[key]) for key, type_ in RELATED_2018.items() if key in record]
    lists = []
    for type_, listed in found:
        if isinstance(listed, list):
            lists.append((type_, listed))
        elif listed is not None:
            notes.append(BAD_RELATED)
    return lists


def _related(
    path: Path,
    number: int,
    asin: str,
    type_: str,
    listed: list,
    asins: set[str],
    quarantine: Quarantine,
    summary: LoadSummary,
    out: BatchBuilder,
) -> None:
    """One product's list as edges product -> listed product, in list order (Amazon ranks its lists)."""
    counts = summary.rel(type_)
    counts.read += len(listed)
    loaded: set[str] = set()
    for value in listed:
        if isinstance(value, str) and value in asins and value != asin:  # the common case first
            if value in loaded:
                counts.duplicate += 1
            else:
                loaded.add(value)
                out.rel(type_, (asin, value, 1.0))
            continue
        bad = _id(value)
        reason = bad.reason if isinstance(bad, _Bad) else SELF_LOOP if value == asin else DANGLING
        quarantine.add(path, number, reason, f"{type_} {asin} -> {value!r}")
        counts.quarantined += 1


def _read_reviews(
    path: Path, asins: set[str] | None, quarantine: Quarantine, summary: LoadSummary, out: BatchBuilder
) -> Generator[GraphBatch, None, int]:
    """Customers and REVIEWED edges; returns how many reviews loaded.

    The (reviewer, product) pairs seen are kept to find repeats: memory grows with the reviews (about 150 bytes
    each), fine for a category file, not for all of Amazon at once.
    """
    reviewed = summary.rel("REVIEWED")
    pairs: set[tuple[str, str]] = set()
    customers: set[str] = set()
    products: set[str] = set()  # only without a meta file: the products the reviews create
    now = time.time() + FUTURE_SLACK_S
    for number, text in read_lines(path, quarantine):
        reviewed.read += 1
        if text is None:
            reviewed.quarantined += 1
            continue
        parsed = _review(text, asins)
        if isinstance(parsed, _Bad):
            quarantine.add(path, number, parsed.reason, text)
            reviewed.quarantined += 1
            continue
        record, customer, asin = parsed
        if (customer, asin) in pairs:
            reviewed.duplicate += 1
            continue
        pairs.add((customer, asin))
        notes: list[str] = []
        ts = _ts(record.get("unixReviewTime"), now, notes)
        rating = _rating(record.get("overall"), notes)
        for note in notes:
            quarantine.add(path, number, note, text)
        reviewed.nulled += bool(notes)
        if customer not in customers:
            customers.add(customer)
            summary.node("Customer").read += 1
            out.node("Customer", (customer,))
        if asins is None and asin not in products:
            products.add(asin)
            summary.node("Product").read += 1
            out.node("Product", (asin, None, None, None))
        out.rel("REVIEWED", (customer, asin, ts, rating))
        if out.full:
            yield from out.drain()
    return len(pairs)


def _review(text: str, asins: set[str] | None) -> tuple[dict[str, Any], str, str] | _Bad:
    """(record, customer, product) of a usable review line, else why it is quarantined."""
    parsed = _record(text, "reviewerID")
    if isinstance(parsed, _Bad):
        return parsed
    record, customer = parsed
    asin = _id(record.get("asin"))
    if isinstance(asin, _Bad):
        return asin
    if asins is not None and asin not in asins:
        return _Bad(DANGLING)
    return record, customer, asin


def _ts(value: object, now: float, notes: list[str]) -> int | None:
    if value is None:
        return None
    ts = _number(value)
    if ts is None or not (MIN_TS <= ts <= now):
        notes.append(BAD_TS)
        return None
    return int(ts)


def _rating(value: object, notes: list[str]) -> float | None:
    if value is None:
        return None
    rating = _number(value)
    if rating is None or not (0 <= rating <= 5):
        notes.append(BAD_RATING)
        return None
    return rating
