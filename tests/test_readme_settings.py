"""README.md's configuration tables are the ones made from the settings declarations: a setting added, renamed,
or given another default or meaning without the README following fails here."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.settings import Settings
from gnn.config import TrainConfig
from graph.neo4j.config import ENV_PREFIX as NEO4J_PREFIX
from graph.neo4j.config import ServerSettings
from graph.settings import ENV_PREFIX, describe, markdown_table

README = Path(__file__).parents[1] / "README.md"
# marker in README.md -> (the settings class, the prefix of its environment variables; None: read from none)
TABLES = {
    "api/settings.py's Settings": (Settings, ENV_PREFIX),
    "gnn/config.py's TrainConfig": (TrainConfig, None),
    "graph/neo4j/config.py's ServerSettings": (ServerSettings, NEO4J_PREFIX),
}


def readme_table(marker: str) -> str:
    readme = README.read_text()
    start = readme.index(f"<!-- settings table: made from {marker} -->\n")
    end = readme.index("<!-- end of settings table -->", start)
    return readme[readme.index("\n", start) + 1 : end]


@pytest.mark.parametrize("marker", sorted(TABLES))
def test_readme_lists_every_setting_with_its_default(marker: str, monkeypatch: pytest.MonkeyPatch) -> None:
    cls, prefix = TABLES[marker]
    monkeypatch.delenv("KGREC_STORE", raising=False)  # the store's default reads it
    table = readme_table(marker)
    for d in describe(cls, prefix):
        assert f"| `{d.name}` |" in table or f"`{d.env}`" in table, (
            f"{d.name} is missing from README's {marker}"
        )
    assert table == markdown_table(cls, prefix), (
        f"README.md's table of {marker} differs; paste markdown_table({cls.__name__}, {prefix!r})"
    )
