"""Stored reports as flat rows (one per day) and their CSV and Parquet files.

Columns: `report_date`, `revision`, then per KPI of the catalogue `<key>` (its headline value, a
nested KPI's percentage), `<key>_count` (its numerator) and `<key>_denominator` (None for a KPI
without one). Counts come from the report itself: a nested KPI's own count and denominator, else
the mart sums the report records in `metadata.mart_sums` (reports stored before that was recorded
export their plain counts only).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from service.reports.catalog import Catalog, Kpi

ExportFormat = Literal["csv", "parquet"]
MEDIA_TYPES: dict[str, str] = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}


def _counts(kpi: Kpi, kpis: dict[str, Any], sums: dict[str, Any]) -> tuple[Any, Any]:
    value = kpis.get(kpi.key)
    if kpi.object_keys is not None and isinstance(value, dict):
        return value.get(kpi.object_keys.count), value.get(kpi.object_keys.denominator)
    count = sums.get(kpi.numerator)
    if count is None and kpi.format == "int":
        count = value  # a plain count KPI is its own numerator
    denominator = sums.get(kpi.denominator) if kpi.denominator else None
    return count, denominator


def export_columns(catalog: Catalog) -> list[str]:
    columns = ["report_date", "revision"]
    for kpi in catalog.kpis:
        columns += [kpi.key, f"{kpi.key}_count", f"{kpi.key}_denominator"]
    return columns


def export_row(catalog: Catalog, report_date: date, revision: int, report: dict[str, Any]) -> dict[str, Any]:
    kpis = report.get("kpis") or {}
    sums = (report.get("metadata") or {}).get("mart_sums") or {}
    row: dict[str, Any] = {"report_date": report_date, "revision": revision}
    for kpi in catalog.kpis:
        count, denominator = _counts(kpi, kpis, sums)
        row |= {
            kpi.key: kpi.summary_value(kpis),
            f"{kpi.key}_count": count,
            f"{kpi.key}_denominator": denominator,
        }
    return row


def csv_lines(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The CSV file line by line (header first), for a streamed response."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in [None, *rows]:
        if row is not None:
            writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def export_bytes(columns: Sequence[str], rows: Sequence[dict[str, Any]], format: ExportFormat) -> bytes:
    """The whole file (the API streams CSV line by line instead)."""
    return parquet_bytes(columns, rows) if format == "parquet" else "".join(csv_lines(columns, rows)).encode()


def _arrow_type(values: list[Any]) -> pa.DataType:
    present = [value for value in values if value is not None]
    if present and all(isinstance(value, bool) for value in present):
        return pa.bool_()
    if all(isinstance(value, int) and not isinstance(value, bool) for value in present):
        return pa.int64()
    return pa.float64()


def parquet_bytes(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> bytes:
    """A Parquet file of the rows; integer columns stay integers, and the schema is the same with no rows."""
    fields = [pa.field("report_date", pa.date32()), pa.field("revision", pa.int64())]
    fields += [pa.field(name, _arrow_type([row[name] for row in rows])) for name in columns[2:]]
    table = pa.Table.from_pylist([dict(row) for row in rows], schema=pa.schema(fields))
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()
