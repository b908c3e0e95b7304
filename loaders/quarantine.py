"""Where bad input goes: one JSON line per rejected row or nulled field, so a load never fails on a few bad rows.

A load of outside data keeps every good row and sets the bad ones aside with the file, the line and a reason, for
a person to read later (``jq -c 'select(.reason == "dangling")' quarantine.jsonl``). The reasons are the
constants below: those of the first group reject the row, those of the second (``bad_<field>``) note a row that
still loaded with that field set to null.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Self

# The row was not loaded.
MALFORMED = "malformed"  # does not parse, or is not a record of the expected shape
BAD_ENCODING = "bad_encoding"  # bytes that are not UTF-8
UNREADABLE = "unreadable"  # the file breaks off (a truncated gzip): this line and the rest are lost
MISSING_ID = "missing_id"  # asin / reviewerID absent, null or blank
BAD_ID = "bad_id"  # an id that is not a string
DANGLING = "dangling"  # names a product that the meta file does not have
SELF_LOOP = "self_loop"  # a product listed as related to itself
MISSING_FIELD = "missing_field"  # an edge list row without a src or dst
UNKNOWN_RELATION = "unknown_relation"  # an edge list relation that is no Product->Product type
BAD_WEIGHT = "bad_weight"  # an edge list weight that is not a finite number >= 0

# The row loaded, with this field set to null (or this list skipped): the value was present but absurd.
BAD_PRICE = "bad_price"  # negative, non-finite, over 1e6, or not a price at all
BAD_RATING = "bad_rating"  # outside 0..5 or not a number
BAD_TS = "bad_ts"  # before 1990, in the future, or not a number
BAD_TITLE = "bad_title"  # not a string
BAD_BRAND = "bad_brand"  # not a string
BAD_CATEGORIES = "bad_categories"  # a category path that is not a list of non-blank strings
BAD_RELATED = "bad_related"  # a related list that is not a list

RAW_LIMIT = 2000
GZIP_MAGIC = b"\x1f\x8b"


class Quarantine:
    """Writes ``{"file", "line", "reason", "raw"}`` JSON lines to `path` and counts them per reason.

    ``Quarantine(None)`` writes nothing and only counts (tests, and a loader's own pre-passes). The file is
    truncated on open: one file per load, not an ever-growing log. `raw` is the offending text (the input line, or
    for one element of a list the element with its product), cut to :data:`RAW_LIMIT` characters.
    """

    def __init__(self, path: Path | str | None) -> None:
        self.path = None if path is None else Path(path)
        self.counts: Counter[str] = Counter()
        self._out: IO[str] | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._out = self.path.open("w", encoding="utf-8")

    def add(self, file: Path | str, line: int, reason: str, raw: str | bytes) -> None:
        self.counts[reason] += 1
        if self._out is None:
            return
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", errors="replace")
        record = {"file": str(file), "line": line, "reason": reason, "raw": raw.rstrip("\r\n")[:RAW_LIMIT]}
        self._out.write(json.dumps(record, ensure_ascii=False) + "\n")

    def __len__(self) -> int:
        return sum(self.counts.values())

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def read_lines(path: Path, quarantine: Quarantine) -> Iterator[tuple[int, str | None]]:
    """Yield ``(line number, text)`` of a plain or gzipped text file, streamed, one line at a time.

    Gzip is told by its bytes, not the file name (downloads get renamed): see :func:`_is_gzip`. A line that is not
    UTF-8 is quarantined alone (the rest of the file is fine); a gzip stream that breaks off quarantines the place
    it broke and ends the file. Both yield ``text=None``, so the caller can count a row that was read and
    quarantined. Blank lines are not rows and are skipped.
    """
    number = 0
    with gzip.open(path, "rb") if _is_gzip(path) else path.open("rb") as f:
        try:
            for number, data in enumerate(f, start=1):
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError:
                    quarantine.add(path, number, BAD_ENCODING, data)
                    yield number, None
                    continue
                if text.strip():
                    yield number, text
        except (EOFError, OSError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError; zlib.error is not
            quarantine.add(path, number + 1, UNREADABLE, f"{type(exc).__name__}: {exc}")
            yield number + 1, None


def _is_gzip(path: Path) -> bool:
    """The gzip magic number, and a stream that decompresses from its start.

    A plain file can begin with the two magic bytes (a garbled first line does, now and then); read as gzip, all
    of it would be lost as unreadable. A stream that fails at once is read as plain text instead, so only its bad
    lines are quarantined; a gzip that breaks off later is still read up to the break.
    """
    with path.open("rb") as probe:
        if probe.read(2) != GZIP_MAGIC:
            return False
    try:
        with gzip.open(path, "rb") as f:
            f.read(1)
    except (EOFError, OSError, zlib.error):
        return False
    return True
