"""The knobs of a Pixie walk (:class:`WalkParams`), validated once where they are made.

Defaults: ``restart=0.5``, ``steps=100_000`` per query, ``walk_length=10`` (steps per walker; walkers = steps /
walk_length), ``n_p=200``, ``n_v=4`` (``n_v=0`` turns early stopping off), ``check_every=2``,
``degree_norm=0.2``. :meth:`~graph.walks.walker.Walker.batch` walks with its own budget (default
``steps=10_000``) and no early stopping, so every product gets comparable evidence.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WalkParams:
    """The knobs of a Pixie walk; see :mod:`graph.walks.walker` for what each does."""

    restart: float = 0.5
    steps: int = 100_000
    walk_length: int = 10
    n_p: int = 200
    n_v: int = 4
    check_every: int = 2
    degree_norm: float = 0.2

    def __post_init__(self) -> None:
        if not 0.0 <= self.restart < 1.0:
            raise ValueError(f"restart must be in [0, 1), not {self.restart}")
        if self.steps < 1 or self.walk_length < 1 or self.check_every < 1:
            raise ValueError("steps, walk_length and check_every must be >= 1")
        if self.n_p < 0 or self.n_v < 0 or self.degree_norm < 0:
            raise ValueError("n_p, n_v and degree_norm must be >= 0")
