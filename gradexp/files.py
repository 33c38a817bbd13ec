"""Files written atomically: text, CSV and JSON.

Every file is written to a temporary name in its folder and renamed into place, so a run folder
never holds a half-written file. The CSV text is pandas' ``to_csv`` text, to the byte, built faster
(the shortest text that reads back as the same float32 / float64 value).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from gradexp.errors import ConfigError

try:
    _STR = np.dtypes.StringDType()  # numpy >= 2: variable-length strings, formatted and joined in C
except AttributeError:
    _STR = None  # older numpy: pandas writes the CSV text


def atomic_write_text(path: Path, text) -> None:
    """Write ``text`` (a string, or an iterable of strings written one after the other) to
    ``path`` through a temporary file in the same folder, then rename."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise ConfigError(f"cannot write to {path.parent}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            os.fchmod(fh.fileno(), 0o666 & ~_umask())  # mkstemp makes the file private; give it the usual mode
            for piece in ([text] if isinstance(text, str) else text):
                fh.write(piece)
        os.replace(tmp, path)
    except OSError as exc:
        _unlink(tmp)
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        _unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _unlink(p):
    try:
        os.unlink(p)
    except OSError:
        pass


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """Write a table (atomically) as ``df.to_csv(index=False, lineterminator="\\n")`` writes it.

    Floats are written with numpy's shortest text that reads back to the same value of their own
    dtype, so every float32 reads back exactly (``0.1``, not ``0.100000001``; ``-0.0`` keeps its
    sign); NaN and <NA> are empty fields. The text is the same as pandas' to the byte, only built
    faster (see :func:`csv_text`). Large tables are formatted and written ``CSV_CHUNK_ROWS`` rows at
    a time, so the text of a wide trace is never held in memory at once.
    """
    atomic_write_text(path, csv_chunks(df))


CSV_CHUNK_ROWS = 50_000  # rows formatted at a time by write_csv


_CSV = {"lineterminator": "\n", "delimiter": ",", "quotechar": '"', "doublequote": True, "escapechar": None,
        "quoting": csv.QUOTE_MINIMAL}  # the csv.writer pandas uses with the options write_csv gives it


def csv_text(df: pd.DataFrame) -> str:
    """``df.to_csv(index=False, lineterminator="\\n")``, to the byte, built column by column by numpy.

    Each column becomes an array of field texts (numpy's ``StringDType``): numbers formatted in C
    (a column with few distinct values formats each value once), text quoted by the same
    ``csv.writer`` pandas uses. The columns are joined with ``np.strings.add``. Frames with a
    column kind this does not handle (dates, categoricals, nullable floats, objects other than
    text, ...), fewer than two columns or labels other than unique strings are left to pandas,
    and so is every frame under numpy < 2.
    """
    return "".join(csv_chunks(df, rows=max(len(df), 1)))


def csv_chunks(df: pd.DataFrame, rows: int = CSV_CHUNK_ROWS):
    """The text of :func:`csv_text` in pieces: the header, then ``rows`` rows at a time.

    Each row's text depends on that row alone, so the pieces join to the whole table's text; a
    piece with a column kind numpy does not format is written by pandas (without its header).
    """
    if _csv_fields_of(df.iloc[:0]) is None:  # labels or numpy that the fast path does not take
        yield df.to_csv(index=False, lineterminator="\n")
        return
    yield _csv_row(list(df.columns))
    for start in range(0, len(df), rows):
        chunk = df.iloc[start:start + rows]
        fields = _csv_fields_of(chunk)
        if fields is None:
            yield chunk.to_csv(index=False, header=False, lineterminator="\n")
            continue
        fields = [np.strings.add(f, ",") for f in fields[:-1]] + [fields[-1]]
        while len(fields) > 1:  # pairwise, so that long lines are copied fewer times
            fields = [np.strings.add(*fields[i:i + 2]) if i + 1 < len(fields) else fields[i]
                      for i in range(0, len(fields), 2)]
        yield "\n".join(fields[0].tolist()) + "\n"


def _csv_fields_of(df):
    """The field texts of every column, or None when pandas should write the frame."""
    cols = df.columns
    if (_STR is None or df.shape[1] < 2 or isinstance(cols, pd.MultiIndex) or not cols.is_unique
            or not all(type(c) is str for c in cols)):
        return None
    fields = []
    for i in range(df.shape[1]):
        f = _csv_fields(df.iloc[:, i])
        if f is None:
            return None
        fields.append(f)
    return fields


def _csv_fields(col: pd.Series):
    """One column's field texts as a ``StringDType`` array, or None for a kind left to pandas."""
    dtype = col.dtype
    if isinstance(dtype, np.dtype):
        values = col.to_numpy()
        if dtype.kind == "f" and dtype.itemsize in (2, 4, 8):
            return _float_fields(values)
        if dtype.kind in "iu":
            return values.astype(_STR)
        if dtype.kind == "b":
            return np.array(["False", "True"], dtype=_STR)[values.view(np.uint8)]
        if dtype.kind == "O":
            return _text_fields(values)
        return None
    if isinstance(dtype, pd.StringDtype):
        return _text_fields(col.to_numpy(dtype=object))
    if isinstance(col.array, pd.arrays.IntegerArray):  # Int64 & co.: <NA> is an empty field
        missing = col.isna().to_numpy()
        out = col.to_numpy(dtype=dtype.numpy_dtype, na_value=0).astype(_STR)
        out[missing] = ""
        return out
    return None


def _float_fields(values):
    """numpy's shortest round-trip text of each float (its own dtype); NaN as an empty field."""
    bits = values.view(f"u{values.dtype.itemsize}")  # distinct bit patterns: -0.0 is not 0.0
    sample = bits[:: max(1, len(bits) // 1024)]
    with np.errstate(invalid="ignore"):  # formatting a signalling NaN raises the flag
        out = None
        if len(pd.unique(sample)) <= len(sample) // 2:  # few distinct values (lr, f*): format each once
            codes, uniq = pd.factorize(bits)
            if len(uniq) <= len(bits) // 2:
                out = uniq.view(values.dtype).astype(_STR)[codes]
        if out is None:
            out = values.astype(_STR)
    missing = np.isnan(values)
    if missing.any():
        out[missing] = ""
    return out


def _text_fields(values):
    """Text quoted as pandas' csv.writer quotes it (missing values empty); None if not all text."""
    missing = pd.isna(values)
    if missing.any():
        values = values.copy()
        values[missing] = ""
    if len(values) and pd.api.types.infer_dtype(values, skipna=False) != "string":
        return None
    codes, uniq = pd.factorize(values)
    return np.array([_csv_row([u, ""])[:-2] for u in uniq], dtype=_STR)[codes]


def _csv_row(fields) -> str:
    """One row as the csv.writer pandas uses writes it."""
    buf = io.StringIO()
    csv.writer(buf, **_CSV).writerow(fields)
    return buf.getvalue()


def write_json(obj, path: Path) -> None:
    """Write ``obj`` as indented JSON (atomically); non-finite floats become null."""

    def clean(v):
        if isinstance(v, float) and not np.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(w) for k, w in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(w) for w in v]
        return v

    atomic_write_text(path, json.dumps(clean(obj), indent=2) + "\n")
