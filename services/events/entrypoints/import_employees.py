"""`python -m services.events.entrypoints.import_employees FILE.csv`: load the directory from a CSV
export (header row with the fields of `PUT /v1/employees/<id>`, plus `id`).

Each row goes through the same validation and versioned save as the HTTP API, so a
re-import of an unchanged file publishes nothing. Bad rows are reported by line and
skipped; the exit status is 1 when any row was refused."""

from __future__ import annotations

import argparse
import csv
import sys
from typing import Any, TextIO

from cercle_common.errors import CercleError, ValidationError
from cercle_common.settings import Settings
from services.events import bootstrap
from services.events.domain.directory import parse_record
from services.events.handlers import Directory

TRUE = {"true", "1", "yes", "y"}
FALSE = {"false", "0", "no", "n"}


def row_to_body(row: dict[str, str]) -> dict[str, Any]:
    """CSV text cells to the JSON body the directory validates (empty cell = absent)."""
    body: dict[str, Any] = {}
    for name, cell in row.items():
        if name is None or name == "id" or cell is None or cell.strip() == "":
            continue
        value: Any = cell.strip()
        if name == "fte":
            try:
                value = float(value)
            except ValueError as error:
                raise ValidationError("must be a number", "fte") from error
        elif name == "active":
            if value.lower() not in TRUE | FALSE:
                raise ValidationError("must be true or false", "active")
            value = value.lower() in TRUE
        body[name] = value
    return body


def import_rows(directory: Directory, stream: TextIO, out: TextIO) -> tuple[int, int, int]:
    """Import every row; returns (saved, unchanged, refused)."""
    saved = unchanged = refused = 0
    for line, row in enumerate(csv.DictReader(stream), start=2):
        employee_id = (row.get("id") or "").strip()
        try:
            if not employee_id:
                raise ValidationError("is required", "id")
            before = directory.store.find_employee(employee_id)
            result = directory.save(employee_id, parse_record(row_to_body(row)))
        except CercleError as error:
            refused += 1
            print(f"line {line}: {error.field or '-'}: {error.message}", file=out)
            continue
        if before is not None and before.get("version") == result.employee["version"]:
            unchanged += 1
        else:
            saved += 1
    return saved, unchanged, refused


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m services.events.entrypoints.import_employees",
        description="Load the directory from a CSV export (a header row naming the fields).",
    )
    parser.add_argument("csv_file", help="id plus the fields of PUT /v1/employees/<id>")
    args = parser.parse_args(argv)
    directory = bootstrap.build(Settings.from_env()).directory
    with open(args.csv_file, newline="", encoding="utf-8-sig") as stream:
        saved, unchanged, refused = import_rows(directory, stream, sys.stderr)
    print(f"employees: {saved} saved, {unchanged} unchanged, {refused} refused")
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main())
