"""A self-contained HTML report: one file with its pictures inside (inline SVG, or PNG as a data
URL), its own styles, and no script, font or image fetched from anywhere, so it reads offline and
can be attached to a ticket or kept as a CI artifact."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from tsrnn.fsutil import atomic_write_bytes

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; padding: 0 2em; max-width: 1500px; color: #111; }
h1 { font-size: 1.4em; } table { border-collapse: collapse; margin: 1em 0; }
td, th { border-bottom: 1px solid #ccc; padding: 0.25em 0.8em; text-align: left; vertical-align: top; }
th { font-weight: 600; } figure { margin: 1.5em 0; } svg, img { max-width: 100%; height: auto; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: 0.85em; }
"""


def write_html(out: str | Path, title: str, facts: dict[str, str], figures: list[Path], console_text: str = "") -> Path:
    """Write the report: the title, a table of facts, the terminal report (as text), the figures."""
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts.items())
    parts = [f"<h1>{html.escape(title)}</h1>", f"<table>{rows}</table>"]
    if console_text:
        parts.append(f"<pre>{html.escape(console_text)}</pre>")
    parts += [f"<figure>{_embedded(path)}</figure>" for path in figures]
    doc = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n<body>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )
    path = Path(out)
    atomic_write_bytes(path, doc.encode("utf-8"))
    return path


def _embedded(path: Path) -> str:
    """An SVG inline (without its XML prologue and DOCTYPE), a PNG as a base64 data URL."""
    data = path.read_bytes()
    if path.suffix.lower() == ".svg":
        text = data.decode("utf-8")
        return text[text.index("<svg") :]
    return f'<img alt="{html.escape(path.name)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def external_urls(text: str) -> list[str]:
    """Addresses a page would fetch: src/href to anything but an in-page anchor or a data URL.
    (The SVG namespace declarations name the format; a browser does not fetch them.)"""
    found = re.findall(r"""(?:src|href|url)\s*[=(]\s*["']?([^"')\s>]+)""", text)
    return [u for u in found if not u.startswith(("#", "data:"))]
