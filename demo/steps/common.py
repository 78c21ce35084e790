"""Printing helpers shared by the demo steps."""

from __future__ import annotations


def heading(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def show(label: str, value: object) -> None:
    print(f"  {label:<40} {value}", flush=True)
