from __future__ import annotations

import gzip
import json
from pathlib import Path

from loaders.quarantine import BAD_ENCODING, MALFORMED, RAW_LIMIT, UNREADABLE, Quarantine, read_lines


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_writes_one_json_line_per_row_and_counts_reasons(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "q.jsonl"
    with Quarantine(out) as q:
        q.add("a.json", 3, MALFORMED, "{oops\n")
        q.add(Path("b.json"), 7, MALFORMED, b"caf\xe9")
        q.add("a.json", 9, "dangling", "x" * (RAW_LIMIT + 500))
    assert q.counts == {MALFORMED: 2, "dangling": 1}
    assert len(q) == 3
    rows = records(out)
    assert rows[0] == {"file": "a.json", "line": 3, "reason": MALFORMED, "raw": "{oops"}
    assert rows[1]["file"] == "b.json" and rows[1]["raw"] == "caf\ufffd"
    assert len(rows[2]["raw"]) == RAW_LIMIT


def test_a_new_quarantine_starts_an_empty_file(tmp_path: Path) -> None:
    out = tmp_path / "q.jsonl"
    with Quarantine(out) as q:
        q.add("a", 1, MALFORMED, "x")
    with Quarantine(out):
        pass
    assert out.read_text() == ""


def test_none_only_counts() -> None:
    q = Quarantine(None)
    q.add("a", 1, MALFORMED, "x")
    q.close()
    assert q.path is None and q.counts[MALFORMED] == 1


def test_read_lines_tells_gzip_by_its_bytes_not_its_name(tmp_path: Path) -> None:
    text = b'{"a": 1}\n\n  \n{"a": 2}\n'
    gz_named_txt = tmp_path / "really_gzip.txt"
    gz_named_txt.write_bytes(gzip.compress(text))
    plain_named_gz = tmp_path / "really_plain.gz"
    plain_named_gz.write_bytes(text)
    for path in (gz_named_txt, plain_named_gz):
        assert list(read_lines(path, Quarantine(None))) == [(1, '{"a": 1}\n'), (4, '{"a": 2}\n')]


def test_read_lines_quarantines_bad_bytes_alone(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_bytes(b"good 1\nbad \xff\xfe\ngood 3\n")
    q = Quarantine(tmp_path / "q.jsonl")
    assert list(read_lines(path, q)) == [(1, "good 1\n"), (2, None), (3, "good 3\n")]
    q.close()
    (row,) = records(tmp_path / "q.jsonl")
    assert row["line"] == 2 and row["reason"] == BAD_ENCODING and row["raw"].startswith("bad ")


def test_read_lines_quarantines_a_truncated_gzip_and_keeps_what_came_before(tmp_path: Path) -> None:
    data = gzip.compress(b"".join(b"line %d\n" % i for i in range(1, 2001)))
    path = tmp_path / "cut.gz"
    path.write_bytes(data[: len(data) // 2])
    q = Quarantine(None)
    lines = list(read_lines(path, q))
    assert q.counts == {UNREADABLE: 1}
    assert lines[-1][1] is None
    good = [text for _, text in lines[:-1]]
    assert good == [f"line {i}\n" for i in range(1, len(good) + 1)]
