"""The churn data's one set of rules: columns, cell types, limits, encoding, classes.

Used by the upload helper (`helpers.data`), by the Preprocess job and by the endpoint's
inference handlers (per record), so what the upload accepts is what the pipeline trains on and
what the endpoint serves. Self-contained (pandas and numpy only, Python 3.8 syntax): it runs in
the scikit-learn processing image, the XGBoost image and the notebooks' venv.

Each cell rule is one scalar check (`Rule.ok`) on the cell's text stripped of surrounding
whitespace; the endpoint applies it to each field. Whole files first vouch for a column's good
values at once (numbers, and texts of plain ASCII digits, checked with numpy) and apply the
scalar check to each distinct value left, so they find the same bad cells as the scalar check.
"""

from __future__ import annotations

import codecs
import io
import math
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

COLUMNS = [
    "State",
    "Account Length",
    "Area Code",
    "Phone",
    "Int'l Plan",
    "VMail Plan",
    "VMail Message",
    "Day Mins",
    "Day Calls",
    "Day Charge",
    "Eve Mins",
    "Eve Calls",
    "Eve Charge",
    "Night Mins",
    "Night Calls",
    "Night Charge",
    "Intl Mins",
    "Intl Calls",
    "Intl Charge",
    "CustServ Calls",
    "Churn?",
]
LABEL = "Churn?"
LABEL_VALUES = {"True.": 1, "False.": 0}
MIN_ROWS = 100
MIN_CLASS_ROWS = 10
MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_CELL_CHARS = 100
_STATE = re.compile(r"^[A-Z]{2}$")
# A lone surrogate (JSON's "\ud800" escape, Python's surrogateescape) is no character: UTF-8,
# Arrow and the CSV the upload writes cannot hold it.
_SURROGATE = re.compile("[\ud800-\udfff]")
_NOT_UNICODE = "valid Unicode text (it holds a lone surrogate)"


class DataError(ValueError):
    """Data that does not fit the churn schema; the message names the problem and where."""


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _non_negative(text: str) -> bool:
    value = _number(text)
    return value is not None and value >= 0


def _whole(text: str) -> bool:
    value = _number(text)
    return value is not None and value >= 0 and value == int(value)


def _area_code(text: str) -> bool:
    value = _number(text)
    return value is not None and value == int(value) and 100 <= value <= 999


def _non_empty(text: str) -> bool:
    return text != ""


class Rule(NamedTuple):
    """A column's rule: `kind` (number, category, id, label), the check, what it expects."""

    kind: str
    ok: Callable[[str], bool]
    expected: str


_YES_NO = Rule("category", lambda v: v in ("yes", "no"), "'yes' or 'no'")
RULES = {
    "State": Rule("category", lambda v: bool(_STATE.match(v)), "a two-letter state code"),
    "Area Code": Rule("category", _area_code, "a 3-digit area code"),
    "Phone": Rule("id", _non_empty, "a phone number"),
    "Int'l Plan": _YES_NO,
    "VMail Plan": _YES_NO,
    LABEL: Rule("label", lambda v: v in LABEL_VALUES, "'True.' or 'False.'"),
}
for _column in ("Account Length", "VMail Message", "CustServ Calls") + tuple(
    f"{p} Calls" for p in ("Day", "Eve", "Night", "Intl")
):
    RULES[_column] = Rule("number", _whole, "a whole number >= 0")
for _column in [f"{p} {k}" for p in ("Day", "Eve", "Night", "Intl") for k in ("Mins", "Charge")]:
    RULES[_column] = Rule("number", _non_negative, "a number >= 0")
INPUT_COLUMNS = [c for c in COLUMNS if c != LABEL]


def cell_text(value: Any) -> str:
    """A cell as the rules see it: text without surrounding whitespace (numbers as written)."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return str(int(value)) if abs(value) < 1e15 else str(value)
    return str(value)  # NaN and infinities read 'nan', 'inf': no number rule accepts them


def check_cell(column: str, text: str) -> str | None:
    """None if `text` (see cell_text) is a good value of `column`, else what was expected."""
    if len(text) > MAX_CELL_CHARS:
        return f"at most {MAX_CELL_CHARS} characters (got {len(text)})"
    if not text.isascii() and _SURROGATE.search(text):
        return _NOT_UNICODE
    rule = RULES[column]
    return None if rule.ok(text) else rule.expected


def category_value(column: str, text: str) -> str:
    """The category a good cell stands for (area codes as integers: '415.0' -> '415')."""
    return str(int(float(text))) if column == "Area Code" else text


def decode(raw: bytes, name: str = "the file") -> str:
    """UTF-8 text (a UTF-8 byte order mark is dropped); DataError naming the encoding problem."""
    if len(raw) > MAX_FILE_BYTES:
        raise DataError(
            f"{name} is {len(raw):,} bytes; at most {MAX_FILE_BYTES:,} bytes per file are accepted"
        )
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    elif raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DataError(
            f"{name} is UTF-16 text (it starts with a UTF-16 byte order mark); save it as UTF-8"
        )
    if b"\x00" in raw:
        line = raw.count(b"\n", 0, raw.index(b"\x00")) + 1
        raise DataError(
            f"{name} holds a NUL byte (line {line}): it is binary data or UTF-16/32 text, "
            "not a UTF-8 CSV file"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(
            f"{name} is not UTF-8: byte 0x{raw[exc.start]:02x} on line {line} is not valid UTF-8 "
            "(Latin-1 or Windows-1252 text?); save the file as UTF-8"
        ) from None


def _parse(raw: bytes, name: str) -> pd.DataFrame:
    """The CSV's rows as text cells (bytes already checked by `decode`; a BOM is skipped)."""
    try:
        return pd.read_csv(
            io.BytesIO(raw),
            header=None,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=True,
            encoding="utf-8-sig",
        )
    except pd.errors.EmptyDataError:
        raise DataError(f"{name} is empty") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{name} is not a readable CSV file: {exc}") from None


def read_csv_files(files: Sequence[tuple[str, bytes]]) -> tuple[pd.DataFrame, list[str]]:
    """Parse CSV files into one frame of stripped text cells; also the header's column order.

    The first file starts with a header naming the columns; a later file without one holds its
    columns in the order of the last header seen. Cells are not checked here (see validate).
    """
    data, order, _ = _read_files(files)
    return data, order


class _Span(NamedTuple):
    """Where one file's rows sit: its name, its first row in the joined data, that row's line."""

    name: str
    first_row: int
    first_line: int


def _read_files(
    files: Sequence[tuple[str, bytes]],
) -> tuple[pd.DataFrame, list[str], list[_Span]]:
    """read_csv_files, and each file's span of the rows."""
    if not files:
        raise DataError("no CSV file to read")
    frames: list[pd.DataFrame] = []
    spans: list[_Span] = []
    order: list[str] | None = None
    rows = 0
    for name, raw in files:
        if not raw.strip():
            raise DataError(f"{name} is empty")
        decode(raw, name)  # the encoding checked; pandas parses the bytes themselves
        frame = _parse(raw, name)
        first = [str(v).strip() for v in frame.iloc[0]]
        header = any(v in COLUMNS for v in first)
        if header:
            order, frame = first, frame.iloc[1:]
            repeated = _repeated(order)
            if repeated:  # before the files are joined, which needs distinct names
                raise DataError(
                    f"the header of {name} names column(s) {repeated} more than once; "
                    "each column may appear once"
                )
        elif order is None:
            raise DataError(
                f"missing column(s): the first line of {name} names none of the columns "
                f"{COLUMNS}; the first file must start with a header line"
            )
        if frame.shape[1] != len(order):
            raise DataError(
                f"{name} has {frame.shape[1]} fields per row but the header names "
                f"{len(order)}: {order}"
            )
        frame.columns = order
        spans.append(_Span(name, rows, 2 if header else 1))
        rows += len(frame)
        frames.append(frame)
    data = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return data.reset_index(drop=True), list(order or COLUMNS), spans


def _row_and_line(row: int) -> str:
    """Where data row `row` (from 0) is: rows count from 1, under a header line."""
    return f"row {row + 1} (line {row + 2})"


def _rows_in_files(spans: Sequence[_Span]) -> Callable[[int], str]:
    """Where a row of several files' joined data is: its file and its line there."""
    starts = [span.first_row for span in spans]

    def where(row: int) -> str:
        span = spans[bisect_right(starts, row) - 1]
        return f"row {row + 1} ({span.name}, line {row - span.first_row + span.first_line})"

    return where


def _repeated(names: Sequence[str]) -> list[str]:
    """The names that appear more than once in `names`, each once, in order."""
    return [name for name, n in Counter(names).items() if n > 1]


def _check_columns(columns: Sequence[Any], required: Sequence[str]) -> None:
    """DataError unless `columns` (stripped names) hold each of `required` and, beyond them,
    only COLUMNS, each once."""
    names = [str(c) for c in columns]
    repeated = _repeated(names)
    if repeated:
        raise DataError(f"column(s) {repeated} appear more than once; each column may appear once")
    missing = [c for c in required if c not in names]
    if missing:
        raise DataError(f"missing column(s) {missing}; found {names}")
    unexpected = [c for c in names if c not in COLUMNS]
    if unexpected:
        raise DataError(f"unexpected column(s) {unexpected}; expected {list(required)}")


def _numbers(column: pd.Series) -> tuple[np.ndarray, np.ndarray] | None:
    """(codes, distinct values as int64, uint64 or float64) of a column of NumPy integers or
    floats of at most 64 bits (cell_text sees them as Python ints and floats); else None."""
    dtype = getattr(column, "dtype", None)
    if not isinstance(dtype, np.dtype) or dtype.kind not in "iuf" or dtype.itemsize > 8:
        return None
    # NaN is one more distinct value ('nan'); 0.0 and -0.0 are one ('0').
    codes, distinct = pd.factorize(column, use_na_sentinel=False)
    widest = {"i": np.int64, "u": np.uint64, "f": np.float64}[dtype.kind]
    return codes, np.asarray(distinct).astype(widest)


def _number_texts(numbers: np.ndarray) -> np.ndarray:
    """cell_text of each of `numbers` (from _numbers), as an object array."""
    if numbers.dtype.kind != "f":
        return np.array(list(map(str, numbers.tolist())), dtype=object)
    whole = (np.abs(numbers) < 1e15) & (numbers == np.trunc(numbers))  # False for NaN, inf
    texts = np.empty(len(numbers), dtype=object)
    texts[whole] = list(map(str, numbers[whole].astype(np.int64).tolist()))
    texts[~whole] = list(map(str, numbers[~whole].tolist()))
    return texts


def _text(column: pd.Series) -> pd.Series:
    """A column `_numbers` does not take, as cell_text strings (other numbers: each distinct
    value once; text: stripped at once; anything else: cell by cell)."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        # Other numbers (nullable, long double, complex): cell_text of each distinct value,
        # spread by position (Series.map costs several times more).
        codes, distinct = pd.factorize(column, use_na_sentinel=False)
        texts = np.array([cell_text(value) for value in distinct], dtype=object)
        return pd.Series(texts[codes], index=column.index, dtype=object)
    if isinstance(column.dtype, pd.StringDtype) or (
        pd.api.types.infer_dtype(column, skipna=False) == "string"
    ):
        stripped = column.str.strip()
        if not stripped.isna().any():
            return stripped
    # Mixed cells (text, numbers, missing values, bytes, lists from JSON records), each read
    # by itself: 1 and True are equal keys, and a list is no key at all.
    texts = np.empty(len(column), dtype=object)
    texts[:] = [cell_text(value) for value in column]
    return pd.Series(texts, index=column.index, dtype=object)


_NUMBER_RULES = (_non_negative, _whole, _area_code)


def _good_numbers(ok: Callable[[str], bool], numbers: np.ndarray) -> np.ndarray | None:
    """Which of `numbers` (from _numbers) pass `ok` as cell_text; None: not known here."""
    if ok is _non_empty:  # a number's text is never empty nor over MAX_CELL_CHARS long
        return np.ones(len(numbers), dtype=bool)
    if ok not in _NUMBER_RULES:
        return None
    # float(cell_text(v)) == v for every float v, so the rules read the values themselves.
    if numbers.dtype.kind == "f":
        whole = numbers == np.trunc(numbers)
        good = np.isfinite(numbers) & (numbers >= 0)
    else:
        whole = np.ones(len(numbers), dtype=bool)
        good = numbers >= 0
    if ok is _area_code:
        return whole & (numbers >= 100) & (numbers <= 999)
    return good & whole if ok is _whole else good


def _plain_decimals(texts: list[str], point: bool) -> bool:
    """Whether each of `texts` is ASCII digits with, if `point`, at most one '.' among them.

    float() reads such a text (of at most MAX_CELL_CHARS characters) as a finite number >= 0,
    a whole one without a point, however it rounds. Checked on the texts' bytes at once.
    """
    try:
        joined = "\n".join(texts)
    except TypeError:  # not all str (bytes, from an object column)
        return False
    if not joined.isascii():
        return False
    codes = np.frombuffer(joined.encode("ascii"), dtype=np.uint8)
    breaks = codes == ord("\n")
    if np.count_nonzero(breaks) != len(texts) - 1:  # a text holds a line break
        return False
    digits = (codes >= ord("0")) & (codes <= ord("9"))
    points = codes == ord(".")
    if not (digits | breaks | (points & point)).all():
        return False
    text = np.cumsum(breaks)  # which text each byte is in (a break starts the next)
    if np.bincount(text[digits], minlength=len(texts)).min() == 0:  # '' or '.'
        return False
    return not points.any() or bool(np.bincount(text[points]).max() == 1)


def _all_good(ok: Callable[[str], bool], texts: list[str]) -> bool:
    """Whether all the distinct `texts` surely pass `ok` and the length limit (False: not known,
    the scalar check decides)."""
    try:
        lengths = list(map(len, texts))
    except TypeError:  # a missing value (NaN, None, pd.NA) has no length
        return False
    if not lengths or max(lengths) > MAX_CELL_CHARS:
        return False
    if ok is _non_empty:
        joined = "".join(texts)
        return min(lengths) > 0 and (joined.isascii() or not _SURROGATE.search(joined))
    if ok is _non_negative or ok is _whole:
        return _plain_decimals(texts, point=ok is _non_negative)
    return False  # other rules: few distinct values


def _column_text(column: pd.Series, name: str) -> tuple[pd.Series, list[Any]]:
    """The column as cell_text strings, and those of its distinct texts (in order of first
    appearance) that may break `name`'s rule: the ones the vectorised checks cannot vouch for."""
    ok = RULES[name].ok
    numbers = _numbers(column)
    if numbers is not None:
        codes, distinct = numbers
        texts = _number_texts(distinct)
        values = pd.Series(texts[codes], index=column.index, dtype=object)
        good = _good_numbers(ok, distinct)
        return values, (texts if good is None else texts[~good]).tolist()
    if ok in (_non_negative, _whole) and isinstance(getattr(column, "dtype", None), pd.StringDtype):
        # Plain decimals have no surrounding whitespace: strip would give the same column
        # (of an object or categorical column it may give other objects or another dtype).
        if _all_good(ok, pd.unique(column).tolist()):
            return column, []
    values = _text(column)
    # tolist(): iterating pandas' Arrow-backed strings one by one costs more than the checks
    texts = pd.unique(values).tolist()
    return values, [] if _all_good(ok, texts) else texts


def validate(df: pd.DataFrame, where: Callable[[int], str] = _row_and_line) -> pd.DataFrame:
    """`df` as stripped text cells if it fits the schema, else DataError naming column and row.

    Checks, in this order: rows present, columns, every cell (the first bad one in reading
    order is reported, its row described by `where`: by default rows count from 1, line =
    row + 1 under a header), then the row count and both classes with MIN_CLASS_ROWS rows each.
    """
    if len(df) == 0:
        raise DataError("the data is empty: it has no rows")
    df = df.rename(columns=lambda c: str(c).strip())
    _check_columns(list(df.columns), COLUMNS)
    text = _checked_cells(df, COLUMNS, where)
    check_classes(text[LABEL])
    return text


def validate_records(df: pd.DataFrame, where: Callable[[int], str] = _row_and_line) -> pd.DataFrame:
    """Customer records to score (the label optional, ignored) as stripped text cells in
    INPUT_COLUMNS order, else DataError naming the column and row (as `validate`)."""
    if len(df) == 0:
        raise DataError("the records are empty: there is no customer to score")
    df = df.rename(columns=lambda c: str(c).strip())
    _check_columns(list(df.columns), INPUT_COLUMNS)
    return _checked_cells(df, INPUT_COLUMNS, where)


def _checked_cells(
    df: pd.DataFrame, columns: Sequence[str], where: Callable[[int], str]
) -> pd.DataFrame:
    """`df[columns]` as cell_text strings; DataError naming the first bad cell in reading order."""
    texts = {c: _column_text(df[c], c) for c in columns}
    text = pd.DataFrame({c: values for c, (values, _) in texts.items()})
    first: tuple[int, int, str, str] | None = None
    for position, column in enumerate(columns):
        bad = [v for v in texts[column][1] if check_cell(column, v) is not None]
        if bad:
            values = text[column]
            row = int(values.isin(bad).to_numpy().argmax())
            if first is None or (row, position) < first[:2]:
                first = (row, position, column, values.iloc[row])
    if first is not None:
        row, _, column, value = first
        shown = value if len(value) <= 40 else value[:40] + "..."
        raise DataError(
            f"column {column!r}, {where(row)}: bad value {shown!r}, "
            f"expected {check_cell(column, value)}"
        )
    return text


def check_classes(labels: pd.Series) -> None:
    """Enough rows, and both classes with MIN_CLASS_ROWS rows each (else DataError)."""
    if len(labels) < MIN_ROWS:
        raise DataError(f"only {len(labels)} rows; at least {MIN_ROWS} are needed to train")
    counts = labels.value_counts()
    for value in LABEL_VALUES:
        n = int(counts.get(value, 0))
        if n < MIN_CLASS_ROWS:
            raise DataError(
                f"column {LABEL!r} has {n} row(s) of class {value!r} in {len(labels)} rows: "
                f"both classes are needed, at least {MIN_CLASS_ROWS} rows each"
            )


def load(source: Any) -> tuple[str, bytes]:
    """(name, bytes) of a file path (its size checked before reading) or of bytes."""
    if isinstance(source, bytes):
        return "the file", source
    path = Path(source)
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise DataError(f"{path.name} is {size:,} bytes; at most {MAX_FILE_BYTES:,} per file")
    return path.name, path.read_bytes()


def read_and_validate(sources: Sequence[Any]) -> tuple[pd.DataFrame, list[str]]:
    """Read CSV file paths or bytes, then validate: (text cells in COLUMNS order, header order)."""
    data, order, spans = _read_files([load(s) for s in sources])
    return validate(data, _rows_in_files(spans) if len(spans) > 1 else _row_and_line), order
