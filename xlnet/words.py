"""Numbers in prose: "1 epoch", "20 epochs"; settings shown as typed ("178", not "178.0")."""

from __future__ import annotations


def quantity(n: int, noun: str, plural: str | None = None) -> str:
    """`n` and the noun, singular for exactly one: quantity(1, "epoch") is "1 epoch"."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def as_typed(value: object) -> str:
    """A setting as a person would type it: a whole float without ".0", others as they are."""
    if isinstance(value, float):
        return f"{value:g}" if value != int(value) or abs(value) >= 1e16 else str(int(value))
    return str(value)
