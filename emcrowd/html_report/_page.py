"""The HTML of the page: its skeleton, the style and script inline (``page.css``, ``page.js``), and
the data as JSON that no value can break out of."""

from __future__ import annotations

import html
import json
from functools import cache
from importlib import resources
from typing import Any

#: The figures every page draws (``<figure id=...>``, filled by the script), and those with a comparison.
FIGURES = ("fig-class-distribution", "fig-crowd-confusion", "fig-confidence", "fig-accuracy-vs-labels")
COMPARE_FIGURES = ("fig-method-accuracy", "fig-calibration")

_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026"}
_ESCAPES |= {0x2028: "\\u2028", 0x2029: "\\u2029"}


def script_json(data: Any) -> str:
    """``data`` as JSON safe inside ``<script type="application/json">``: ``<``, ``>`` and ``&`` are
    written as ``\\u`` escapes (``JSON.parse`` reads them back), so ``</script>`` in an id cannot end
    the element; NaN is refused (the data writes missing numbers as ``null``)."""
    return json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":")).translate(_ESCAPES)


@cache
def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _kind_section(kind: str) -> tuple[str, str]:
    """The section a kind of task draws its own view in (``page.js``'s ``KINDS``)."""
    if kind == "classification":
        return "classes", "Classes"
    from emcrowd.html_report._kinds import TITLES

    key = "kind-" + "".join(c if c.isalnum() else "-" for c in kind)
    return key, html.escape(TITLES.get(kind) or kind.replace("_", " ").capitalize())


def render_page(data: dict[str, Any]) -> str:
    """The whole page: the title and the section skeleton as HTML, the rest drawn by the script."""
    meta = data["meta"]
    title = f"emcrowd report: {meta['title']}"
    compare = data.get("compare") is not None
    sections = [
        ("overview", "Overview"),
        _kind_section(data["kind"]),
        *([("machines", "Machines")] if data.get("machines") else []),
        ("items", "Items"),
        ("annotators", "Annotators"),
        *([("comparison", "Comparison with the truth")] if compare else []),
        ("details", "Fit details"),
    ]
    nav = "".join(f'<a href="#{key}">{name}</a>' for key, name in sections)
    body = "".join(
        f'<section id="{key}"><h2>{name}</h2><div class="body"></div></section>' for key, name in sections
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_asset('page.css')}</style></head>\n"
        f'<body><header><h1 id="title">{html.escape(title)}</h1><nav>{nav}</nav></header>\n'
        f"<main>{body}</main>\n<noscript><p>This report draws its tables and figures with JavaScript; "
        "open it in a browser with JavaScript on.</p></noscript>\n"
        f'<script type="application/json" id="emcrowd-data">{script_json(data)}</script>\n'
        f"<script>{_asset('page.js')}</script>\n</body></html>\n"
    )
