"""A report as one self-contained HTML page: figures embedded, no script, no files."""

import base64
import html

import numpy as np
import pandas as pd

__all__ = ["render_html"]

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 70em; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.8em;
       border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.6em 0; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
pre { background: #f6f6f6; padding: 0.7em; overflow-x: auto; font-size: 0.85em; }
figure { margin: 0.8em 0; } figcaption { font-size: 0.85em; color: #555; }
img { max-width: 100%; height: auto; }
.advice { background: #eef5ff; border-left: 4px solid #3b7dd8; padding: 0.5em 1em; }
"""


def render_html(title, sections):
    """The page of a report.

    Parameters
    ----------
    title : str
    sections : list of (str, list of tuple)
        Each section's heading and blocks: ``("p", text)``,
        ``("advice", list of str)``, ``("pre", text)``, ``("table", DataFrame)``
        or ``("figure", file name, caption, PNG bytes)``.

    Returns
    -------
    text : str
        HTML with every figure as a ``data:image/png;base64`` URI.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_soilspec.experiments._html import render_html
    >>> page = render_html("Demo", [("Table", [("table", pd.DataFrame({"a": [1.5]}))])])
    >>> "<td>1.5</td>" in page
    True
    """
    body = [f"<h1>{html.escape(title)}</h1>"]
    for heading, blocks in sections:
        if heading:
            body.append(f"<h2>{html.escape(heading)}</h2>")
        body += [_block(b) for b in blocks]
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


def _block(block):
    kind = block[0]
    if kind == "p":
        return f"<p>{html.escape(block[1])}</p>"
    if kind == "advice":
        items = "".join(f"<li>{html.escape(line)}</li>" for line in block[1])
        return f'<div class="advice"><ul>{items}</ul></div>'
    if kind == "pre":
        return f"<pre>{html.escape(block[1])}</pre>"
    if kind == "table":
        return _table(block[1])
    if kind == "figure":
        _, _, caption, png = block
        data = base64.b64encode(png).decode("ascii")
        return (f'<figure><img alt="{html.escape(caption, quote=True)}" '
                f'src="data:image/png;base64,{data}">'
                f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    raise ValueError(f"Unknown report block {kind!r}.")


def _table(df):
    if df.empty:
        return "<p><em>(none)</em></p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
        for row in df.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _cell(v):
    if isinstance(v, (float, np.floating)):
        return "" if np.isnan(v) else f"{v:.4g}"
    return "" if v is None or v is pd.NA else str(v)
