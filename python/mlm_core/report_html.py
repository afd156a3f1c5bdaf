"""Self-contained HTML for people: sections of the report, each a ``<section>`` string with its tables and
inline SVG charts (no script, no network), and :func:`page` to wrap sections into one file.

Numbers are formatted by integer arithmetic from minor units (no float on the money path, not even here);
every figure is also in a table cell with a ``data-value`` attribute holding the exact integer, so a test
(or a reader's script) can check the page against the store.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from .migrate.standards import minor_unit

if TYPE_CHECKING:
    from .reconciliation import Reconciliation

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #1d2330; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2.2rem; border-bottom: 1px solid #d5dae3; }
table { border-collapse: collapse; margin: .6rem 0 1rem; } th, td { padding: .25rem .7rem; text-align: right; }
th { background: #eef1f6; } td:first-child, th:first-child { text-align: left; }
tr:nth-child(even) td { background: #f8f9fb; }
.verdict { display: inline-block; padding: .35rem .9rem; border-radius: .3rem; font-weight: 600; }
.go { background: #dff3e4; color: #135c2a; } .stop { background: #fbe3e3; color: #8a1c1c; }
.chart { margin: .5rem 0 1rem; } .muted { color: #5d6677; } code { background: #eef1f6; padding: 0 .2rem; }
"""
LEGACY_COLOUR, OURS_COLOUR = "#8a94a6", "#2f6fde"


def money(amount: int, currency: str = "USD") -> str:
    """Minor units as a decimal of the currency's exponent, by integer arithmetic.

    >>> money(123456789), money(-5), money(1234, "JPY"), money(1234567, "BHD")
    ('1,234,567.89', '-0.05', '1,234', '1,234.567')
    """
    digits = minor_unit(currency)
    sign = "-" if amount < 0 else ""
    whole, part = divmod(abs(amount), 10**digits)
    return f"{sign}{whole:,}" + (f".{part:0{digits}d}" if digits else "")


def _cell(value: Any, currency: str | None = None) -> str:
    if isinstance(value, bool) or value is None:
        return f"<td>{'' if value is None else html.escape(str(value))}</td>"
    if isinstance(value, int):
        shown = money(value, currency) if currency else f"{value:,}"
        return f'<td data-value="{value}">{shown}</td>'
    return f"<td>{html.escape(str(value))}</td>"


def table(rows: Iterable[dict[str, Any]], columns: list[str], *, money_columns: Iterable[str] = (),
          currency: str = "USD", table_id: str | None = None) -> str:
    """An HTML table of ``rows`` (dicts) with ``columns``; money columns formatted in ``currency``."""
    money_set = set(money_columns)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(_cell(r.get(c), currency if c in money_set else None) for c in columns) + "</tr>"
                   for r in rows)
    ident = f' id="{html.escape(table_id)}"' if table_id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def bar_chart(groups: list[tuple[str, list[int]]], series: list[tuple[str, str]], *, title: str,
              chart_id: str, currency: str | None = None) -> str:
    """Grouped horizontal bars as inline SVG: ``groups`` of (label, one value per series); ``series`` of
    (name, colour). Bar lengths are integer ratios of the largest value; with ``currency`` the values are
    minor units, labelled as money."""
    top = max((abs(v) for _, values in groups for v in values), default=0) or 1
    bar, gap, label_w, width = 14, 10, 190, 520
    height = len(groups) * (len(series) * bar + gap) + 30
    parts = [f'<svg class="chart" id="{html.escape(chart_id)}" role="img" width="{label_w + width + 140}" '
             f'height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{html.escape(title)}</title>']
    y = 24
    for name, colour in series:
        parts.append(f'<rect x="{label_w + 140 * series.index((name, colour))}" y="4" width="12" height="12" '
                     f'fill="{colour}"/><text x="{label_w + 16 + 140 * series.index((name, colour))}" y="15" '
                     f'font-size="12">{html.escape(name)}</text>')
    for label, values in groups:
        parts.append(f'<text x="0" y="{y + bar}" font-size="12">{html.escape(label)}</text>')
        for (name, colour), value in zip(series, values, strict=True):
            length = abs(value) * width // top
            parts.append(f'<rect class="bar" data-series="{html.escape(name)}" data-group="{html.escape(label)}" '
                         f'data-value="{value}" x="{label_w}" y="{y}" width="{max(length, 1)}" height="{bar - 2}" '
                         f'fill="{colour}"/>')
            shown = money(value, currency) if currency else f"{value:,}"
            parts.append(f'<text x="{label_w + length + 4}" y="{y + bar - 3}" font-size="11">{shown}</text>')
            y += bar
        y += gap
    parts.append("</svg>")
    return "".join(parts)


def reconciliation_section(rec: Reconciliation, notes: list[str] | None = None, tried: pa.Table | None = None,
                           *, currency: str = "USD", limit: int = 25) -> str:
    """The parallel run: the go-live verdict, each period's verdict and totals, a chart of both sides'
    totals per period and bonus, the diagnosis and the largest differences."""
    periods = rec.periods.to_pylist()
    totals = rec.totals.to_pylist()
    go = rec.go_live
    verdict = ('<p><span class="verdict go" id="go-live" data-go-live="true">GO-LIVE: every compared period '
               'matches to the minor unit</span></p>' if go else
               '<p><span class="verdict stop" id="go-live" data-go-live="false">NOT READY: '
               f'{sum(p["differing"] for p in periods):,} differing pair(s) in '
               f'{sum(p["verdict"] != "match" for p in periods)} of {len(periods)} period(s)</span></p>')
    out = ['<section id="reconciliation"><h2>Parallel run: reconciliation with the legacy system</h2>', verdict,
           table(periods, ["period", "verdict", "pairs", "differing", "legacy_total", "our_total"],
                 money_columns=["legacy_total", "our_total"], currency=currency, table_id="reconciliation-periods"),
           "<h3>Totals per period and bonus</h3>",
           bar_chart([(f'{t["period"]} {t["bonus"]}', [t["legacy_total"], t["our_total"]]) for t in totals],
                     [("legacy", LEGACY_COLOUR), ("ours", OURS_COLOUR)],
                     title=f"legacy and our totals per period and bonus ({currency})", chart_id="reconciliation-chart",
                     currency=currency),
           table(totals, ["period", "bonus", "legacy_total", "our_total", "difference", "match", "amount_differs",
                          "only_legacy", "only_ours"], money_columns=["legacy_total", "our_total", "difference"],
                 currency=currency, table_id="reconciliation-totals")]
    if notes is not None:
        out.append("<h3>Diagnosis</h3>")
        if notes:
            out.append("<ul id='diagnosis'>" + "".join(f"<li>{html.escape(s)}</li>" for s in notes) + "</ul>")
        else:
            out.append("<p id='diagnosis' class='muted'>Nothing to diagnose: no differences.</p>")
    if tried is not None and tried.num_rows:
        out.append('<p class="muted">Every candidate plan change tried, with the differing pairs it fixes and '
                   'the matching pairs it breaks:</p>')
        out.append(table(tried.to_pylist(), ["step", "change", "fixes", "breaks", "differing_after", "taken"],
                         table_id="diagnosis-tried"))
    differences = rec.differences()
    if differences.num_rows:
        out.append(f"<h3>Largest differences ({min(limit, differences.num_rows)} of {differences.num_rows:,})</h3>")
        out.append(table(differences.slice(0, limit).to_pylist(),
                         ["period", "member_id", "bonus", "legacy_amount", "our_amount", "difference", "status"],
                         money_columns=["legacy_amount", "our_amount", "difference"], currency=currency,
                         table_id="reconciliation-differences"))
    out.append("</section>")
    return "".join(out)


def page(title: str, sections: Iterable[str]) -> str:
    """One self-contained HTML document: inline style, no script, no external resource."""
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{''.join(sections)}</body></html>")
