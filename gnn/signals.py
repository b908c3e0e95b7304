"""What a catalog knows of its products, and which methods and features step aside when it does not know it.

A shop's data need not have every signal this package can learn from: the Cell Phones catalog has no titles, an
edge list (``kgrec load --edges``) has neither titles, nor categories, nor customers. :class:`Signals` counts the
three optional ones in a snapshot; a method or feature that needs a signal the catalog lacks *steps aside*: a
baseline is left out of the evaluation (:func:`gnn.baselines.baselines`), a model feature is a constant (a zero
text block, one "unknown" category, no customer messages), so one model class, with the same tensor shapes,
serves every catalog. Each step aside is a :class:`StepAside`, which reports print as one line saying what and why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from graph.schema import INTERACTION_TYPES
from graph.snapshot import Snapshot

if TYPE_CHECKING:
    from gnn.features import FeaturePipeline

Signal = Literal["titles", "categories", "interactions"]
SIGNALS: tuple[Signal, ...] = ("titles", "categories", "interactions")

# a word as TF-IDF counts it (scikit-learn's default token pattern, also gnn.text's): two or more letters or digits
_WORD = re.compile(r"(?u)\b\w\w+\b")


@dataclass(frozen=True)
class StepAside:
    """A method or feature left out (or held constant) because the catalog lacks what it reads."""

    what: str  # e.g. "title similarity", "gnn title features"
    why: str  # e.g. "no product has a title"

    def __str__(self) -> str:
        return f"{self.what} stepped aside: {self.why}"


@dataclass(frozen=True)
class Signals:
    """Counts of the optional signals of a snapshot's products."""

    products: int
    titles: int  # products with a non-blank title
    titled: int  # products whose title has a word (what TF-IDF can match on)
    categorized: int  # products in at least one category
    interactions: int  # customer -> product events: reviews, purchases, views

    @staticmethod
    def of(snap: Snapshot) -> Signals:
        titles = [] if snap.titles is None else [t for t in snap.titles.tolist() if t is not None]
        nonblank = [str(t) for t in titles if str(t).strip()]
        return Signals(
            products=snap.n("Product"),
            titles=len(nonblank),
            titled=sum(1 for t in nonblank if _WORD.search(t)),
            categorized=int((snap.rel("IN_CATEGORY").degree() > 0).sum()),
            interactions=sum(snap.rel(t).nnz for t in INTERACTION_TYPES),
        )

    def lacks(self, signal: Signal) -> str | None:
        """Why the catalog cannot give `signal` (a few words), or None when some product has it."""
        if signal == "titles":
            if self.titles == 0:
                return "no product has a title"
            return None if self.titled else "no product title has a word of two or more letters"
        if signal == "categories":
            return None if self.categorized else "no product has a category"
        if signal == "interactions":
            return None if self.interactions else "no customer interactions (reviews, purchases, views)"
        raise ValueError(f"unknown signal {signal!r}; known: {SIGNALS}")

    def describe(self) -> str:
        """One line: how many products have each signal."""
        return (
            f"{self.products} products: {self.titled} with a title, {self.categorized} in a category; "
            f"{self.interactions} customer interactions"
        )


def model_steps_aside(pipeline: FeaturePipeline, snap: Snapshot) -> list[StepAside]:
    """The GNN's features that are constant for `pipeline` (as fitted) over the graph `snap`, each with why.

    Title features come from the pipeline's vocabulary, fitted on the train graph: with none, the text block and
    the ``title_cos`` pair feature are zero for every product, new ones included. Categories and customers are read
    from `snap`, the graph the model embeds.
    """
    signals = Signals.of(snap)
    out = []
    if len(pipeline.vocab) == 0:
        titles = signals.lacks("titles") or "no title word is shared by two products"
        out.append(StepAside("gnn title features", f"{titles}; the text block and title_cos are zero"))
    if (categories := signals.lacks("categories")) is not None:
        out.append(
            StepAside("gnn category features", f"{categories}; one 'unknown' category, same_category is 0")
        )
    if (customers := signals.lacks("interactions")) is not None:
        out.append(
            StepAside(
                "gnn customer features", f"{customers}; no customer messages, the co-review features are 0"
            )
        )
    return out
