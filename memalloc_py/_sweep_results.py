"""The results of a sweep: its rows as a typed DataFrame, and the results
file (CSV or Parquet) that receives them as they finish and that a sweep
resumes from (docs/sweep.md).

A row is a dict of column -> value; a missing value is None.  Each column
has a kind, "str", "int", "float" or "bool", which fixes its pandas type
(object, Int64, float64, boolean) and how its values are written as text: a
float as its shortest round-trip repr, so that a resumed row reads back the
exact measures that were written.
"""
from __future__ import annotations

import csv
import io
import math
import os
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

#: The results files a sweep writes and resumes, by extension.
RESULT_FORMATS = (".csv", ".parquet")
# Seconds between rewrites of a Parquet results file while a sweep runs
# (a CSV file gets each row as it finishes).
_PARQUET_EVERY = 30.0


def _describe(e: BaseException) -> str:
    """An exception as one line: ``Type: message``."""
    text = " ".join(line.strip() for line in str(e).splitlines() if line.strip())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _frame(rows: Sequence[Mapping[str, Any]], columns: Mapping[str, str]) -> Any:
    """The rows as a DataFrame of the plan's columns and types: nullable
    Int64 and boolean (NA where there is no value: the seed of a recorded
    trace, an option the allocator does not take, the measures of a failed
    replay, system's peak heap), float64 and str."""
    import pandas as pd

    data = {}
    for name, kind in columns.items():
        values = [_missing_to_none(r.get(name)) for r in rows]
        if kind == "int":
            data[name] = pd.array(values, dtype="Int64")
        elif kind == "bool":
            data[name] = pd.array(values, dtype="boolean")
        elif kind == "float":
            data[name] = pd.array([math.nan if v is None else float(v) for v in values], dtype="float64")
        else:
            data[name] = pd.Series(["" if v is None else str(v) for v in values], dtype=object)
    return pd.DataFrame(data, columns=list(columns))


def _missing_to_none(v: Any) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    try:
        import pandas as pd

        if v is pd.NA:
            return None
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    return v


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in RESULT_FORMATS:
        raise ValueError(f"{path}: a results file is {' or '.join(RESULT_FORMATS)} "
                         f"(its extension says which), not {suffix or 'a file without extension'}")
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401  (pandas' Parquet engine)
        except ImportError:
            raise ImportError(f"{path}: Parquet files need pyarrow: "
                              "pip install 'memalloc_py[parquet]' (or write .csv)") from None
    return suffix[1:]


def _text_value(v: Any) -> str:
    v = _missing_to_none(v)
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)  # the shortest text that reads back to the same float
    return str(v)


def _parse_value(text: str, kind: str) -> Any:
    if text == "":
        return None if kind != "str" else ""
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    if kind == "bool":
        if text not in ("True", "False"):
            raise ValueError(f"{text!r} is not True or False")
        return text == "True"
    return text


def _read_results(path: Path, fmt: str, columns: Mapping[str, str]) -> list[dict[str, Any]]:
    """The rows of an existing results file (none when it is missing or
    empty); ValueError when its columns are not this sweep's."""
    if not path.exists() or path.stat().st_size == 0:
        return []
    if fmt == "parquet":
        import pandas as pd

        try:
            df = pd.read_parquet(path)
        except Exception as e:
            raise ValueError(f"{path}: not a readable Parquet file ({_describe(e)})") from None
        header = list(df.columns)
        _check_header(path, header, columns)
        return [{k: _missing_to_none(v) for k, v in r.items()} for r in df.to_dict("records")]
    data = path.read_bytes()
    whole = data[: data.rfind(b"\n") + 1]  # a row cut short by a crash is dropped
    try:
        reader = csv.reader(io.StringIO(whole.decode("utf-8"), newline=""))
        header = next(reader, [])
    except (UnicodeDecodeError, csv.Error) as e:
        raise ValueError(f"{path}: not a readable CSV file ({_describe(e)})") from None
    _check_header(path, header, columns)
    if len(whole) < len(data):
        with open(path, "rb+") as f:
            f.truncate(len(whole))
    rows = []
    for lineno, fields in enumerate(reader, 2):
        if len(fields) != len(header):
            raise ValueError(f"{path}, line {lineno}: {len(fields)} fields, the header has {len(header)}")
        try:
            rows.append({k: _parse_value(t, columns[k]) for k, t in zip(header, fields)})
        except ValueError as e:
            raise ValueError(f"{path}, line {lineno}: {e}") from None
    return rows


def _check_header(path: Path, header: list[str], columns: Mapping[str, str]) -> None:
    if header != list(columns):
        missing = [c for c in columns if c not in header]
        extra = [c for c in header if c not in columns]
        what = "; ".join(filter(None, [missing and f"it lacks {', '.join(missing)}",
                                       extra and f"it has {', '.join(extra)} besides"]))
        raise ValueError(f"{path}: not the results of this sweep (its columns differ: "
                         f"{what or 'their order'}); write to another file")


class _Writer:
    """Rows into the results file as they finish: appended to a CSV file at
    once, a Parquet file rewritten whole (to a temporary file, then renamed)
    at most every _PARQUET_EVERY seconds and at the end."""

    def __init__(self, path: Optional[Path], fmt: str, columns: Mapping[str, str],
                 kept: list[dict[str, Any]]):
        self.path, self.fmt, self.columns = path, fmt, columns
        self.rows = kept
        self.written = time.monotonic()
        self.pending = False
        if path is not None and fmt == "csv" and (not path.exists() or path.stat().st_size == 0):
            with open(path, "w", newline="") as f:
                csv.writer(f, lineterminator="\n").writerow(list(columns))

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if self.path is None:
            return
        if self.fmt == "csv":
            with open(self.path, "a", newline="") as f:
                csv.writer(f, lineterminator="\n").writerow([_text_value(row.get(c)) for c in self.columns])
        else:
            self.pending = True
            if time.monotonic() - self.written >= _PARQUET_EVERY:
                self.flush()

    def flush(self) -> None:
        if self.path is None or self.fmt != "parquet" or not self.pending:
            return
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            _frame(_latest(self.rows), self.columns).to_parquet(tmp, index=False)
            os.replace(tmp, self.path)
        finally:
            if tmp.exists():
                tmp.unlink()
        self.written, self.pending = time.monotonic(), False


def _latest(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per task, the last one written (a retried task's new row)."""
    by_key: dict[str, dict[str, Any]] = {}
    for r in rows:
        by_key.pop(r["task"], None)
        by_key[r["task"]] = r
    return list(by_key.values())
