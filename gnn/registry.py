"""The model registry: a folder of versioned runs, one of them promoted, and the serving artifact inside each.

Layout::

    REGISTRY/
      runs/<version>/manifest.json   version, created, config, data fingerprint, metrics, code version, file sha256s
      runs/<version>/serving.npz     what the API serves (see :class:`ServingArtifact`)
      runs/<version>/...             weights, feature pipeline, curves: whatever the trainer adds to `files`
      PROMOTED                       the promoted version's name

A run is written into a hidden temporary folder and renamed into place when complete, so a crash half-way leaves
every earlier run intact and never a half-written one under ``runs/``. Promotion replaces ``PROMOTED`` atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from graph.schema import RELATIONS

SERVING_FILE = "serving.npz"
MANIFEST_FILE = "manifest.json"


class ArtifactError(ValueError):
    """A run that is missing, corrupt or incompatible; the message says which check failed."""


@dataclass
class ServingArtifact:
    """Top-K learned neighbours and embeddings per product, as dense arrays (no per-request database access).

    ``neighbors[rel]`` is int32 ``[n_products, K]`` of product positions (``-1`` pads short lists) ranked by
    ``scores[rel]`` (float32, same shape, descending); ``embeddings`` is float32 ``[n_products, d]``.
    """

    product_ids: np.ndarray  # str [n]
    neighbors: dict[str, np.ndarray]
    scores: dict[str, np.ndarray]
    embeddings: np.ndarray

    def validate(self) -> None:
        n = len(self.product_ids)
        if n == 0:
            raise ArtifactError("no products")
        if len(set(self.product_ids.tolist())) != n:
            raise ArtifactError("duplicate product ids")
        if self.embeddings.ndim != 2 or self.embeddings.shape[0] != n:
            raise ArtifactError(f"embeddings shape {self.embeddings.shape} does not match {n} products")
        if not np.isfinite(self.embeddings).all():
            raise ArtifactError("embeddings contain NaN or infinity")
        for rel in RELATIONS:
            idx, sc = self.neighbors.get(rel), self.scores.get(rel)
            if idx is None or sc is None:
                raise ArtifactError(f"no {rel} lists")
            if idx.ndim != 2 or idx.shape[0] != n or sc.shape != idx.shape:
                raise ArtifactError(
                    f"{rel} lists shape {idx.shape} / scores {sc.shape} do not match {n} products"
                )
            if idx.size and (idx.min() < -1 or idx.max() >= n):
                raise ArtifactError(f"{rel} lists point outside the catalog")
            if not np.isfinite(sc[idx >= 0]).all():
                raise ArtifactError(f"{rel} scores contain NaN or infinity")

    def save(self, path: Path) -> None:
        arrays: dict[str, np.ndarray] = {
            "product_ids": self.product_ids.astype(str),
            "embeddings": self.embeddings,
        }
        for rel in RELATIONS:
            arrays[f"{rel}_idx"] = self.neighbors[rel].astype(np.int32)
            arrays[f"{rel}_score"] = self.scores[rel].astype(np.float32)
        with open(path, "wb") as f:
            np.savez(f, **arrays)

    @staticmethod
    def load(path: Path) -> ServingArtifact:
        try:
            with np.load(path, allow_pickle=False) as z:
                art = ServingArtifact(
                    product_ids=z["product_ids"].astype(object),
                    neighbors={rel: z[f"{rel}_idx"] for rel in RELATIONS},
                    scores={rel: z[f"{rel}_score"] for rel in RELATIONS},
                    embeddings=z["embeddings"].astype(np.float32),
                )
        except ArtifactError:
            raise
        except Exception as e:  # a truncated zip, a missing array, garbage bytes: all mean "refuse"
            raise ArtifactError(f"cannot read {path.name}: {type(e).__name__}: {e}") from e
        art.validate()
        return art


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def code_version() -> str:
    """The git commit of the code that made a run (``unknown`` outside a checkout)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class Registry:
    """Versioned runs in a folder; see the module docstring for the layout."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.runs = self.root / "runs"

    def new_version(self) -> str:
        return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + f"-{os.getpid() % 10000:04d}"

    def write_run(self, version: str, manifest: dict[str, Any], write_files: Callable[[Path], None]) -> Path:
        """Create run `version`: `write_files(tmpdir)` writes its files, then the manifest seals them, then rename.

        The manifest records each file's sha256, so a file corrupted later is refused at load time.
        """
        self.runs.mkdir(parents=True, exist_ok=True)
        final = self.runs / version
        if final.exists():
            raise ArtifactError(f"run {version} exists already")
        tmp = self.runs / f".tmp-{version}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            write_files(tmp)
            files = {p.name: _sha256(p) for p in sorted(tmp.iterdir()) if p.is_file()}
            manifest = {
                "version": version,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "code_version": code_version(),
                **manifest,
                "files": files,
            }
            with open(tmp / MANIFEST_FILE, "w") as f:
                json.dump(manifest, f, indent=2, sort_keys=True, default=str)
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final

    def list(self) -> list[dict[str, Any]]:
        """Manifests of all complete runs, oldest first (unreadable ones are listed with their error)."""
        out = []
        if not self.runs.exists():
            return out
        for d in sorted(p for p in self.runs.iterdir() if p.is_dir() and not p.name.startswith(".")):
            try:
                out.append(self.manifest(d.name))
            except ArtifactError as e:
                out.append({"version": d.name, "error": str(e)})
        return out

    def manifest(self, version: str) -> dict[str, Any]:
        path = self.runs / version / MANIFEST_FILE
        try:
            with open(path) as f:
                return json.load(f)
        except FileNotFoundError as e:
            raise ArtifactError(f"no run {version!r} in {self.root}") from e
        except (OSError, json.JSONDecodeError) as e:
            raise ArtifactError(f"run {version!r}: unreadable manifest: {e}") from e

    def verify(self, version: str) -> dict[str, Any]:
        """The manifest, after checking every file's sha256 against it."""
        manifest = self.manifest(version)
        for name, digest in manifest.get("files", {}).items():
            path = self.runs / version / name
            if not path.exists():
                raise ArtifactError(f"run {version!r}: {name} is missing")
            if _sha256(path) != digest:
                raise ArtifactError(
                    f"run {version!r}: {name} does not match its checksum (corrupt or altered)"
                )
        return manifest

    def load_serving(self, version: str) -> ServingArtifact:
        self.verify(version)
        return ServingArtifact.load(self.runs / version / SERVING_FILE)

    def promoted(self) -> str | None:
        try:
            return (self.root / "PROMOTED").read_text().strip() or None
        except FileNotFoundError:
            return None

    def promote(self, version: str) -> None:
        """Make `version` the one served, after checking it loads; atomic for readers of PROMOTED."""
        self.load_serving(version)
        tmp = self.root / f".PROMOTED.{os.getpid()}"
        tmp.write_text(version + "\n")
        os.replace(tmp, self.root / "PROMOTED")
