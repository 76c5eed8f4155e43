"""Progress bars: tqdm's when it is installed, else none."""

from __future__ import annotations

from typing import Any


class _NoBar:
    def update(self, _: int) -> None:
        """Nothing to draw."""

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *_: object) -> None:
        return None


def progress_bar(total: int, unit: str, wanted: bool) -> Any:
    """A tqdm bar when one is wanted and tqdm is installed, else a stand-in that draws nothing."""
    if wanted:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return _NoBar()
        return tqdm(total=total, unit=unit)
    return _NoBar()
