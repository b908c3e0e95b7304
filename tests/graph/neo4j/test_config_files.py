"""The files the local server's start writes into its data home: neo4j.conf, and the log4j2 files, which are
this package's data (graph/neo4j/*.xml). No server runs here."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from xml.etree import ElementTree

from graph.neo4j.config import ServerConfig
from graph.neo4j.server import write_config

PACKAGE = Path(__file__).resolve().parents[3] / "graph" / "neo4j"


def test_write_config_copies_the_log4j_files_and_points_neo4j_at_them(tmp_path):
    cfg = dataclasses.replace(ServerConfig.from_env(), data_home=tmp_path / "home")
    conf = write_config(cfg)
    settings = dict(
        line.split("=", 1) for line in (conf / "neo4j.conf").read_text().splitlines() if "=" in line
    )
    for name, key in (
        ("server-logs.xml", "server.logs.config"),
        ("user-logs.xml", "server.logs.user.config"),
    ):
        written = conf / name
        assert written.read_bytes() == (PACKAGE / name).read_bytes()
        assert settings[key] == str(written)
        assert ElementTree.parse(written).getroot().tag == "Configuration"  # well-formed log4j2 XML
