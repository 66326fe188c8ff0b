"""The monthly statement as PDF: fpdf2 lays it out, matplotlib draws the category chart.

Built from figures the API already answers with (analytics_service.reports), so the PDF and the
API cannot disagree. Text is set in DejaVu Sans (shipped with matplotlib: accents, Greek,
Cyrillic, many symbols), with fallback fonts for what it lacks where installed (Debian's
fonts-droid-fallback for Chinese and Japanese, fonts-nanum for Korean, fonts-symbola for emoji,
in black and white). A character no font has is printed as a white square, never as a broken glyph.
Building is CPU work and runs in a thread; the route streams the result.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path

log = logging.getLogger(__name__)

MISSING = "\u25a1"  # WHITE SQUARE, which DejaVu Sans has
FALLBACK_FONTS = (
    Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"),  # fonts-droid-fallback
    Path("/usr/share/fonts/truetype/nanum/NanumGothic.ttf"),  # fonts-nanum (Hangul)
    Path("/usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf"),  # fonts-symbola
)


@dataclass(frozen=True)
class BudgetLine:
    name: str
    limit: Decimal
    spent: Decimal
    percent: Decimal
    state: str


@dataclass(frozen=True)
class ExpenseLine:
    day: date
    description: str
    category: str
    amount: Decimal


@dataclass(frozen=True)
class CategoryLine:
    category: str
    total: Decimal
    share: Decimal
    previous: Decimal


@dataclass
class Statement:
    """Everything the statement shows, in the user's currency."""

    month: str
    title: str
    owner: str
    currency: str
    timezone: str
    generated: datetime
    income: Decimal
    expense: Decimal
    savings: Decimal
    previous_income: Decimal
    previous_expense: Decimal
    categories: list[CategoryLine] = field(default_factory=list)
    budgets: list[BudgetLine] = field(default_factory=list)
    largest: list[ExpenseLine] = field(default_factory=list)


@dataclass(frozen=True)
class Fonts:
    regular: Path
    bold: Path
    fallbacks: tuple[Path, ...]
    covered: frozenset[int]


@cache
def fonts(fallbacks: tuple[Path, ...] = FALLBACK_FONTS) -> Fonts:
    import matplotlib
    from fontTools.ttLib import TTFont

    bundled = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    regular, bold = bundled / "DejaVuSans.ttf", bundled / "DejaVuSans-Bold.ttf"
    present = tuple(path for path in fallbacks if path.is_file())
    for path in fallbacks:
        if path not in present:
            log.warning("font %s is missing: its characters print as %s", path, MISSING)
    covered: set[int] = set()
    for path in (regular, *present):
        covered |= set(TTFont(path, lazy=True).getBestCmap())
    return Fonts(regular, bold, present, frozenset(covered))


def printable(text: str, covered: frozenset[int]) -> str:
    """``text`` with what no font can show replaced by a square (and joiners and variation
    selectors, which only shape emoji, dropped)."""
    out = []
    for char in text:
        code = ord(char)
        if code in (0x200D, 0xFE0E, 0xFE0F):
            continue
        out.append(char if code in covered or char in "\n\t" else MISSING)
    return "".join(out)


def money(amount: Decimal, currency: str) -> str:
    return f"{amount:,.2f} {currency}"


def change(now: Decimal, before: Decimal) -> str:
    if before <= 0:  # from nothing, or from a loss: a percentage would mislead
        return "new" if before == 0 and now else "-"
    percent = (now - before) / before * 100
    return f"{percent:+.0f}%"


def category_chart(lines: list[CategoryLine], currency: str, covered: frozenset[int]) -> bytes:
    """A horizontal bar chart of spending by category, as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    shown = lines[:10]
    figure = Figure(figsize=(7, 0.45 * max(3, len(shown)) + 0.8), dpi=150)
    axes = figure.subplots()
    names = [printable(line.category, covered) for line in reversed(shown)]
    values = [float(line.total) for line in reversed(shown)]
    bars = axes.barh(names, values, color="#3b5bdb")
    axes.bar_label(bars, labels=[f"{v:,.2f}" for v in values], padding=3, fontsize=8)
    axes.set_xlabel(f"spent ({currency})")
    axes.spines[["top", "right"]].set_visible(False)
    axes.margins(x=0.15)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def render(statement: Statement) -> bytes:
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    found = fonts()
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_font("body", "", str(found.regular))
    pdf.add_font("body", "B", str(found.bold))
    fallback_names = []
    for n, path in enumerate(found.fallbacks):
        pdf.add_font(f"fallback{n}", "", str(path))
        fallback_names.append(f"fallback{n}")
    pdf.set_fallback_fonts(fallback_names, exact_match=False)
    pdf.set_title(printable(statement.title, found.covered))
    pdf.set_author("Expense Tracker")
    pdf.set_creator("Expense Tracker (fpdf2)")
    pdf.add_page()

    def text(value: object) -> str:
        return printable(str(value), found.covered)

    cur = statement.currency

    def heading(words: str, size: int = 13) -> None:
        pdf.set_font("body", "B", size)
        pdf.cell(0, 9, text(words), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font("body", "", 10)

    def row(cells: list[str], widths: list[float], bold: bool = False) -> None:
        pdf.set_font("body", "B" if bold else "", 9.5)
        for value, width in zip(cells, widths, strict=True):
            align = "R" if width < 0 else "L"
            pdf.cell(abs(width), 6.5, text(value), align=align)
        pdf.ln(6.5)

    heading(statement.title, 17)
    pdf.set_font("body", "", 9)
    pdf.cell(
        0,
        5,
        text(
            f"{statement.owner} · amounts in {cur} · dates in {statement.timezone} · made "
            f"{statement.generated:%Y-%m-%d %H:%M} UTC"
        ),
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.ln(3)

    heading("The month")
    widths = [60.0, -45.0, -45.0, -30.0]
    row(["", "this month", "month before", "change"], widths, bold=True)
    previous_savings = statement.previous_income - statement.previous_expense
    for label, now, before in (
        ("Income", statement.income, statement.previous_income),
        ("Expenses", statement.expense, statement.previous_expense),
        ("Savings", statement.savings, previous_savings),
    ):
        row([label, money(now, cur), money(before, cur), change(now, before)], widths)
    pdf.ln(3)

    heading("Budgets")
    if statement.budgets:
        widths = [55.0, -35.0, -35.0, -25.0, 30.0]
        row(["budget", "limit", "spent", "used", "  state"], widths, bold=True)
        for budget in statement.budgets:
            row(
                [
                    budget.name,
                    money(budget.limit, cur),
                    money(budget.spent, cur),
                    f"{budget.percent:.0f}%",
                    "  " + budget.state,
                ],
                widths,
            )
    else:
        pdf.cell(0, 6, "No budget for this month.", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)

    heading("Spending by category")
    if statement.categories:
        chart = category_chart(statement.categories, cur, found.covered)
        pdf.image(io.BytesIO(chart), w=150)
        widths = [60.0, -40.0, -25.0, -40.0, -25.0]
        row(["category", "spent", "share", "month before", "change"], widths, bold=True)
        for line in statement.categories:
            row(
                [
                    line.category,
                    money(line.total, cur),
                    f"{line.share * 100:.0f}%",
                    money(line.previous, cur),
                    change(line.total, line.previous),
                ],
                widths,
            )
    else:
        pdf.cell(0, 6, "No expenses this month.", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)

    if statement.largest:
        heading("Largest expenses")
        widths = [25.0, 85.0, 35.0, -35.0]
        row(["date", "description", "category", "amount"], widths, bold=True)
        for expense in statement.largest:
            description = expense.description or "-"
            if pdf.get_string_width(text(description)) > 82:
                while description and pdf.get_string_width(text(description + "…")) > 82:
                    description = description[:-1]
                description += "…"
            row(
                [
                    expense.day.isoformat(),
                    description,
                    expense.category,
                    money(expense.amount, cur),
                ],
                widths,
            )
    return bytes(pdf.output())
