"""CSV data files as text tables: the header, the rows, and what each column holds: numbers,
or categories (a column of text values). No numpy import: `specc check` reads CSV files
through here too (peek.py); files.py turns the columns into arrays."""
from __future__ import annotations

import csv
import math

from .dataset import DataError


def _read_csv(path: str) -> tuple[list[str], list[list[str]], list[int]]:
    """(header, rows of stripped cells, each row's line number) of a csv file with a header
    row; DataError with path:line for a row with the wrong number of values."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = [h.strip() for h in next(reader, [])]
            rows, lines = [], []
            for r in reader:
                if not any(c.strip() for c in r):
                    continue  # a blank line
                if len(r) != len(header):
                    raise DataError(f"{path}:{reader.line_num}: this row has {len(r)} values but the header names "
                                    f"{len(header)} columns")
                rows.append([c.strip() for c in r])
                lines.append(reader.line_num)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"cannot read '{path}' as csv text: {e}") from None
    if not header or not rows:
        raise DataError(f"'{path}' needs a header row and at least one data row")
    twice = sorted({h for h in header if header.count(h) > 1})
    if twice:
        raise DataError(f"'{path}': column(s) {', '.join(repr(h) for h in twice)} appear more than once in the "
                        "header; give every column its own name")
    return header, rows, lines


def _column(path: str, header: list[str], rows: list[list[str]], lines: list[int],
            name: str) -> tuple[list[float] | None, list[str] | None]:
    """Column `name` as (its numbers, None), or as (None, its categories, sorted) when no value
    is a number (a column of text values such as 'red', 'blue'). DataError with path:line for
    an empty value, NaN or Inf, or a column that mixes numbers and text."""
    j = header.index(name)
    numbers: list[float] = []
    first_text = None
    for row, line in zip(rows, lines):
        v = row[j]
        if not v:
            raise DataError(f"{path}:{line}: an empty value in column '{name}'; fill in or drop such rows")
        try:
            numbers.append(float(v))
        except ValueError:
            first_text = first_text or (line, v)
    if first_text is None:
        for number, line, row in zip(numbers, lines, rows):
            if not math.isfinite(number):
                raise DataError(f"{path}:{line}: column '{name}' is {row[j]}; specc trains on finite numbers only "
                                "(drop or fill in such rows)")
        return numbers, None
    if numbers:
        line, v = first_text
        raise DataError(f"{path}:{line}: a non-numeric value {v!r} in column '{name}', whose other values are "
                        "numbers; fix the value (a column of text values only is read as categories)")
    return None, sorted({row[j] for row in rows})
