"""Money is reserved before it is spent.

Each paid call reserves its estimated (upper-bound) cost first; the billed
``usage.cost`` then replaces the reservation. With concurrency, the sum of
spent and reserved money never passes the budget, so a session cannot
overshoot it.
"""
from __future__ import annotations

import itertools
from collections import defaultdict

__all__ = ["Budget", "Reservation"]


class Reservation:
    __slots__ = ("id", "amount", "model")

    def __init__(self, id: int, amount: float, model: str):
        self.id = id
        self.amount = amount
        self.model = model


class Budget:
    """Not thread-safe: used only from the engine's event loop."""

    def __init__(self, limit_usd: float | None, *, spent_usd: float = 0.0, by_model: dict | None = None):
        self.limit_usd = limit_usd
        self.spent_usd = spent_usd
        self.by_model: dict[str, float] = defaultdict(float, by_model or {})
        self._reserved: dict[int, Reservation] = {}
        self._ids = itertools.count(1)

    @property
    def reserved_usd(self) -> float:
        return sum(r.amount for r in self._reserved.values())

    def would_exceed(self, amount: float) -> bool:
        if self.limit_usd is None:
            return False
        return self.spent_usd + self.reserved_usd + amount > self.limit_usd + 1e-12

    def try_reserve(self, amount: float, model: str) -> Reservation | None:
        """Reserve ``amount``, or return None when that would pass the budget."""
        if self.would_exceed(amount):
            return None
        reservation = Reservation(next(self._ids), amount, model)
        self._reserved[reservation.id] = reservation
        return reservation

    def settle(self, reservation: Reservation, actual_usd: float) -> float:
        """Replace the reservation by what was billed; returns the billed amount."""
        self._reserved.pop(reservation.id, None)
        self.spent_usd += actual_usd
        self.by_model[reservation.model] += actual_usd
        return actual_usd

    def release(self, reservation: Reservation) -> None:
        self._reserved.pop(reservation.id, None)
