"""Tables on the console: rich boxes in a terminal, aligned plain text anywhere else.

A CI log is no terminal and rich would fit its tables into 80 columns, cutting names
to `latenc…` and wrapping rows over several lines; there every column is kept whole
and every row is one line (`harness.report.text.plain_table`). Cells may hold rich markup
(`[red]FAIL[/]`): drawn in a terminal, dropped in plain text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table


def show_table(
    console: Console,
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    right: Sequence[str] = (),
    wrap: Sequence[str] = (),
) -> None:
    """Print a table: `right` columns right-aligned; only `wrap` columns may wrap (terminal)."""
    if console.is_terminal:
        console.print(rich_table(title, columns, rows, right, wrap))
        return
    from rich.text import Text

    from harness.report.text import plain_table

    plain = [[Text.from_markup(cell).plain for cell in row] for row in rows]
    for line in plain_table(title, columns, plain, right):
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def rich_table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    right: Sequence[str] = (),
    wrap: Sequence[str] = (),
) -> Table:
    from rich.table import Table

    table = Table(title=title or None, title_justify="left")
    for name in columns:
        justify: Literal["right", "left"] = "right" if name in right else "left"
        if name in wrap:  # folded, never cut: a metric name is the row's meaning
            table.add_column(name, justify=justify, overflow="fold")
        else:
            table.add_column(name, justify=justify, no_wrap=True)
    for row in rows:
        table.add_row(*row)
    return table
