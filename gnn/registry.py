"""The model registry: a folder of versioned runs, one of them promoted, and the serving artifact inside each;
how a trained run is written into it, and the checkpoints a run in progress resumes from.

Layout::

    REGISTRY/
      runs/<version>/manifest.json   version, created, config, data fingerprint, metrics, code version, file sha256s
      runs/<version>/serving.npz     what the API serves (see :class:`ServingArtifact`)
      runs/<version>/model.pt        weights (and whether the graph had brands)
      runs/<version>/config.json     the :class:`~gnn.config.TrainConfig`
      runs/<version>/features.npz    the :class:`~gnn.features.FeaturePipeline`
      runs/<version>/...             split, history, curves (:func:`save_run`)
      PROMOTED                       the promoted version's name

A run is written into a hidden temporary folder and renamed into place when complete, so a crash half-way leaves
every earlier run intact and never a half-written one under ``runs/``. Promotion replaces ``PROMOTED`` atomically.

The API reads runs through this module and serves without torch: torch, and the modules that build and score a
model (which read runs through this one), are imported inside the functions that write runs and checkpoints.
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
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from gnn.signals import model_steps_aside
from graph.schema import LEARNED_TYPES, RELATIONS

if TYPE_CHECKING:
    from gnn.config import TrainConfig
    from gnn.features import FeaturePipeline
    from gnn.model import LinkModel
    from gnn.split import Split
    from graph.snapshot import Snapshot

SERVING_FILE = "serving.npz"
MANIFEST_FILE = "manifest.json"
MODEL_FILE = "model.pt"
CONFIG_FILE = "config.json"
FEATURES_FILE = "features.npz"


class ArtifactError(ValueError):
    """A run that is missing, corrupt or incompatible; the message says which check failed."""


@dataclass
class ServingArtifact:
    """Top-K learned neighbours and embeddings per product, as dense arrays (no per-request database access).

    ``neighbors[relation]`` is int32 ``[n_products, K]`` of product positions (``-1`` pads short lists) ranked by
    ``scores[relation]`` (float32, same shape, descending); ``embeddings`` is float32 ``[n_products, d]``.
    """

    product_ids: np.ndarray  # str [n]
    neighbors: dict[str, np.ndarray]
    scores: dict[str, np.ndarray]
    embeddings: np.ndarray
    # int32 [n]: what each product is for, a cluster of the embeddings (gnn.infer.purpose_groups); bundle(diverse)
    # spreads over these. None in runs from before them.
    groups: np.ndarray | None = None

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
        for relation in RELATIONS:
            idx, sc = self.neighbors.get(relation), self.scores.get(relation)
            if idx is None or sc is None:
                raise ArtifactError(f"no {relation} lists")
            if idx.ndim != 2 or idx.shape[0] != n or sc.shape != idx.shape:
                raise ArtifactError(
                    f"{relation} lists shape {idx.shape} / scores {sc.shape} do not match {n} products"
                )
            if idx.size and (idx.min() < -1 or idx.max() >= n):
                raise ArtifactError(f"{relation} lists point outside the catalog")
            if not np.isfinite(sc[idx >= 0]).all():
                raise ArtifactError(f"{relation} scores contain NaN or infinity")
        if self.groups is not None and self.groups.shape != (n,):
            raise ArtifactError(f"groups shape {self.groups.shape} does not match {n} products")

    def save(self, path: Path) -> None:
        arrays: dict[str, np.ndarray] = {
            "product_ids": self.product_ids.astype(str),
            "embeddings": self.embeddings,
        }
        for relation in RELATIONS:
            arrays[f"{relation}_idx"] = self.neighbors[relation].astype(np.int32)
            arrays[f"{relation}_score"] = self.scores[relation].astype(np.float32)
        if self.groups is not None:
            arrays["groups"] = self.groups.astype(np.int32)
        with open(path, "wb") as f:
            np.savez(f, **cast(dict[str, Any], arrays))

    @staticmethod
    def load(path: Path) -> ServingArtifact:
        try:
            with np.load(path, allow_pickle=False) as z:
                art = ServingArtifact(
                    product_ids=z["product_ids"].astype(object),
                    neighbors={relation: z[f"{relation}_idx"] for relation in RELATIONS},
                    scores={relation: z[f"{relation}_score"] for relation in RELATIONS},
                    embeddings=z["embeddings"].astype(np.float32),
                    groups=z["groups"].astype(np.int64) if "groups" in z.files else None,
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
        out: list[dict[str, Any]] = []
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


@dataclass
class TrainResult:
    """A fitted model and what it was fitted on and with: what :func:`save_run` writes."""

    model: LinkModel
    pipeline: FeaturePipeline
    split: Split
    config: TrainConfig
    history: list[dict[str, float]]
    best_epoch: int
    valid: dict[str, dict[str, dict[str, float]]]
    timings: dict[str, float]
    brands: bool


def data_fingerprint(snap: Snapshot) -> str:
    """sha256 (16 hex digits) of the product ids and every observed relationship's arrays: what the run was
    trained on. Learned edges are left out: no run reads them, and promoting a run writes them into the store, so
    with them the store a model was promoted into would never match the model again."""
    h = hashlib.sha256()
    for asin in snap.ids["Product"]:
        h.update(str(asin).encode() + b"\0")
    for type_ in sorted(t for t in snap.rels if t not in LEARNED_TYPES):
        csr = snap.rels[type_]
        h.update(type_.encode())
        h.update(np.ascontiguousarray(csr.indptr).tobytes())
        h.update(np.ascontiguousarray(csr.indices).tobytes())
    return h.hexdigest()[:16]


def save_checkpoint(path: Path, state: dict[str, Any], pipeline: FeaturePipeline) -> None:
    """Write atomically, so a run killed mid-write resumes from the previous epoch, not a torn file."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    pipeline.save(path.with_suffix(".features.npz"))
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def load_checkpoint(path: Path) -> tuple[dict[str, Any], FeaturePipeline]:
    """The trainer state and the feature pipeline :func:`save_checkpoint` wrote."""
    import torch

    from gnn.features import FeaturePipeline

    state = torch.load(path, map_location="cpu", weights_only=True)
    return state, FeaturePipeline.load(path.with_suffix(".features.npz"))


def plot_curves(history: list[dict[str, float]], path: Path) -> bool:
    """Loss and validation NDCG@10 per epoch as a PNG; False where matplotlib is absent (the GPU machine)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    epochs = [r["epoch"] for r in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    left.plot(epochs, [r["loss"] for r in history], label="ranking loss")
    left.plot(epochs, [r["direction"] for r in history], label="direction loss")
    left.set_xlabel("epoch")
    left.legend()
    for key in sorted({k for r in history for k in r if k.startswith("valid_")}):
        label = "mean" if key == "valid_ndcg@10" else key[6:].removesuffix("_ndcg@10").replace("_", " ")
        right.plot(epochs, [r.get(key, np.nan) for r in history], marker="o", label=label)
    right.set_xlabel("epoch")
    right.set_ylabel("valid NDCG@10")
    if right.lines:  # a run trained without validation has none to name
        right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def save_run(
    registry: Registry,
    result: TrainResult,
    snap: Snapshot,
    art: ServingArtifact,
    timings: dict[str, float],
    version: str | None = None,
) -> str:
    """Write `result` as a versioned run: weights, config, feature pipeline, split, history, curves and the
    serving artifact `art` (scored over `snap`, the whole graph the split was cut from), with `timings` beside the
    training's own; returns the version. :func:`gnn.infer.write_run` scores the artifact and calls this."""
    import torch

    version = version or registry.new_version()

    def files(d: Path) -> None:
        torch.save({"state": result.model.state_dict(), "brands": result.brands}, d / MODEL_FILE)
        (d / CONFIG_FILE).write_text(json.dumps(result.config.to_dict(), indent=2, sort_keys=True))
        result.pipeline.save(d / FEATURES_FILE)
        result.split.save(d / "split.npz")
        (d / "history.json").write_text(json.dumps(result.history, indent=1))
        plot_curves(result.history, d / "curves.png")
        art.save(d / SERVING_FILE)

    manifest = {
        "kind": "gnn",
        "config": result.config.to_dict(),
        "data_fingerprint": data_fingerprint(snap),
        "counts": snap.counts(),
        "split_seed": result.split.seed,  # what `kgrec evaluate` re-cuts the split with, and checks
        "split_fingerprint": result.split.fingerprint(),
        "metrics": {"valid": result.valid, "best_epoch": result.best_epoch},
        # the features that were constant on this catalog (no titles, categories or customers), with why
        "stepped_aside": [str(s) for s in model_steps_aside(result.pipeline, result.split.train)],
        "timings": {**result.timings, **timings},
        "device": str(next(result.model.parameters()).device),
    }
    registry.write_run(version, manifest, files)
    return version
