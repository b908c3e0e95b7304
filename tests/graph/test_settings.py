"""The settings loader: defaults < TOML < environment < overrides, casts named per field, secrets refused in files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from graph.settings import (
    SettingsError,
    describe,
    list_of,
    load,
    markdown_table,
    setting,
    to_bool,
    to_float,
    to_int,
    to_optional_path,
    to_str,
)


@dataclass(frozen=True)
class Example:
    name: str = setting("a", cast=to_str, help="a name")
    count: int = setting(1, cast=to_int, help="how many | at most")
    ratio: float = setting(0.5, cast=to_float, help="a share")
    on: bool = setting(False, cast=to_bool, help="a switch")
    home: Path | None = setting(None, cast=to_optional_path, help="a folder")
    fanout: list[int] = setting(default_factory=lambda: [10, 5], cast=list_of(to_int), help="per hop")
    heap: str = setting("2g", cast=to_str, env="KGREC_JVM_HEAP", help="named apart from the field")
    token: str = setting("", cast=to_str, secret=True, repr=False, help="a secret")


def test_later_sources_win(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('name = "file"\ncount = 2\nratio = 0.25\nfanout = [3, 2, 1]\n')
    env = {
        "KGREC_COUNT": "3",
        "KGREC_ON": "yes",
        "KGREC_HOME": "~/x",
        "KGREC_JVM_HEAP": "4g",
        "KGREC_TOKEN": "t",
    }
    got = load(Example, config, env, overrides={"count": "4", "ratio": None})
    home = Path("~/x").expanduser()
    assert got == Example("file", 4, 0.25, True, home, [3, 2, 1], "4g", "t")
    assert load(Example, env={}) == Example()
    assert load(Example, env={"KGREC_FANOUT": "4, 2"}).fanout == [4, 2]
    assert load(Example, env={"KGREC_COUNT": "", "KGREC_JVM_HEAP": " "}) == Example()  # empty: unset


def test_a_section_or_the_top_level_and_no_environment(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text("[train]\ncount = 7\n")
    (tmp_path / "t.toml").write_text("count = 8\n")
    env = {"KGREC_COUNT": "9"}
    assert load(Example, tmp_path / "s.toml", env, prefix=None, section="train").count == 7
    assert load(Example, tmp_path / "t.toml", env, prefix=None, section="train").count == 8
    assert load(Example, None, env, prefix="APP_").count == 1


@pytest.mark.parametrize(
    ("text", "env", "overrides", "message"),
    [
        ('token = "t"\n', {}, {}, r"c.toml: token is a secret; set KGREC_TOKEN in the environment"),
        ("counts = 1\n", {}, {}, r"c.toml: unknown setting 'counts'"),
        ("count = true\n", {}, {}, r"c.toml: bad value for count: not an integer"),
        ("", {"KGREC_ON": "maybe"}, {}, r"KGREC_ON: bad value for on: not a boolean"),
        ("", {"KGREC_FANOUT": "4,x"}, {}, r"KGREC_FANOUT: bad value for fanout"),
        ("", {}, {"ratio": "half"}, r"command line: bad value for ratio"),
        ("", {}, {"ration": 1.0}, r"command line: unknown setting 'ration'"),
        ("count = \n", {}, {}, r"cannot read config .*c.toml"),
    ],
)
def test_errors_name_the_source_and_the_key(
    tmp_path: Path, text: str, env: dict[str, str], overrides: dict[str, object], message: str
) -> None:
    (tmp_path / "c.toml").write_text(text)
    with pytest.raises(SettingsError, match=message):
        load(Example, tmp_path / "c.toml", env, overrides=overrides)


def test_a_field_without_a_cast_is_refused() -> None:
    @dataclass
    class Bare:
        x: int = 1

    with pytest.raises(TypeError, match=r"Bare.x is not declared with graph.settings.setting"):
        load(Bare, env={})


def test_the_table_documents_every_setting() -> None:
    names = [d.name for d in describe(Example)]
    assert names == ["name", "count", "ratio", "on", "home", "fanout", "heap", "token"]
    table = markdown_table(Example).splitlines()
    assert len(table) == 2 + len(names)
    assert table[3] == "| `count` | `KGREC_COUNT` | `1` | how many \\| at most |"
    assert "| `home` | `KGREC_HOME` | unset |" in table[6] and "`[10, 5]`" in table[7]
    assert table[8].startswith('| `heap` | `KGREC_JVM_HEAP` | `"2g"` |')
    assert table[9].startswith("| (secret: environment only) | `KGREC_TOKEN` |")
