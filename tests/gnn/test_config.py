"""The training configuration: defaults, then a TOML file, then overrides; a misspelt key is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from gnn.config import PRESETS, TrainConfig


def test_config_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "train.toml"
    path.write_text("[train]\nhidden = 32\nepochs = 7\nnum_neighbors = [4, 2]\n")
    config = TrainConfig.from_toml(path, epochs=3, seed=None)
    assert (config.hidden, config.epochs, config.num_neighbors) == (32, 3, [4, 2])
    path.write_text("hiddne = 32\n")
    with pytest.raises(ValueError, match="hiddne"):
        TrainConfig.from_toml(path)


def test_a_preset_sits_between_the_file_and_the_flags(tmp_path: Path) -> None:
    path = tmp_path / "train.toml"
    path.write_text("hidden = 32\nepochs = 20\npatience = 9\n")
    quick = PRESETS["quick"]
    config = TrainConfig.from_toml(path, preset="quick", patience=5)
    assert config.hidden == 32  # the file's, where the preset says nothing
    assert config.epochs == quick["epochs"] != 20  # the preset's over the file's
    assert config.patience == 5  # a flag over the preset
    with pytest.raises(ValueError, match="slow"):
        TrainConfig.from_toml(None, preset="slow")
