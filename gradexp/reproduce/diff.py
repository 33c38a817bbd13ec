"""Byte-for-byte comparison of CSV files, with the first difference named by row and column."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Difference:
    """Where two CSV files first differ: ``row`` counts data rows from 1 (0 is the header line)."""

    file: str
    row: int | None = None
    column: str | None = None
    original: str | None = None
    rerun: str | None = None
    note: str = ""

    def describe(self) -> str:
        """One line: the file, row, column and both values (or why no row can be named)."""
        if self.row is None:
            return f"{self.file}: {self.note}"
        where = "header" if self.row == 0 else f"row {self.row}"
        col = f", column {self.column}" if self.column else ""
        return f"{self.file}: first difference at {where}{col}: {self.original!r} (original) vs {self.rerun!r} (rerun)"


def _fields(line: str) -> list[str]:
    return next(csv.reader(io.StringIO(line)), [])


def first_difference(name: str, original: Path, rerun: Path) -> Difference | None:
    """None when the two files are byte-identical, else the first differing row and column."""
    if not original.is_file() or not rerun.is_file():
        which = "original" if not original.is_file() else "rerun"
        return Difference(name, note=f"missing in the {which} folder")
    a, b = original.read_bytes(), rerun.read_bytes()
    if a == b:
        return None
    la = _lines(a)
    lb = _lines(b)
    header = _fields(la[0]) if la else []
    for i, (x, y) in enumerate(zip(la, lb)):
        if x == y:
            continue
        fx, fy = _fields(x), _fields(y)
        for j in range(max(len(fx), len(fy))):
            vx = fx[j] if j < len(fx) else None
            vy = fy[j] if j < len(fy) else None
            if vx != vy:
                column = header[j] if j < len(header) else f"#{j + 1}"
                return Difference(name, i, column, vx, vy)
        return Difference(name, i, None, x, y)  # same fields, different bytes (quoting, line ends)
    if len(la) != len(lb):
        return Difference(name, note=f"the original has {max(len(la) - 1, 0)} data rows, the rerun "
                                     f"{max(len(lb) - 1, 0)} (the rows both have are identical)")
    return Difference(name, note="the files differ only in their last line ending")


def _lines(data: bytes) -> list[str]:
    text = data.decode("utf-8", "replace")
    lines = text.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def fact_differences(recorded: dict, now: dict) -> list[str]:
    """``key: recorded X, now Y`` for every fact that differs (or was not recorded)."""
    out = []
    for key, value in now.items():
        if key not in recorded:
            out.append(f"{key}: not recorded, now {value}")
        elif recorded[key] != value:
            out.append(f"{key}: recorded {recorded[key]}, now {value}")
    return out
