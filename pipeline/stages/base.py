"""The stage contract every step of the pipeline follows (NeMo-Curator style).

A stage is built cheaply in the driver, pickled to wherever it runs (a worker process, a Ray
actor), loads its models in ``setup()`` there, then maps batches: ``process_batch(items)``
returns one result per item, same order. A failing item becomes a failure result instead of
crashing the batch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


@dataclass(frozen=True, slots=True)
class Resources:
    cpus: float = 1.0
    gpus: float = 0.0
    batch_size: int = 1


@dataclass(frozen=True, slots=True)
class ItemFailure:
    """A per-item error: the run goes on and reports it at the end."""

    item_id: str
    error: str


class Stage(ABC, Generic[In, Out]):
    name: str = "stage"
    resources: Resources = Resources()

    def setup(self) -> None:  # noqa: B027 - optional hook
        """Load models; runs once on the worker, never in ``__init__``."""

    @abstractmethod
    def process_batch(self, items: Sequence[In]) -> list[Out | ItemFailure]: ...

    def teardown(self) -> None:  # noqa: B027 - optional hook
        """Free models."""
