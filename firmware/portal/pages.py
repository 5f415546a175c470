# pages.py: the setup pages' shared HTML: head and style, and short messages.
# MIT license; Copyright (c) 2026 hanmq
#
# Self-contained HTML (inline CSS, no scripts, no external assets: a phone's captive
# sheet is a restricted browser without internet). Pages are generators of bytes
# chunks: constant parts go out as they are, short values are formatted and escaped.
# Secrets are never written into a page.

_HEAD = (
    b'<!DOCTYPE html><html lang=en><head><meta charset=utf-8><meta name=viewport '
    b'content="width=device-width,initial-scale=1"><link rel=icon href="data:,">%s'
    b"<title>%s</title><style>"
)
_CSS = (
    b"body{font:16px/1.4 system-ui,sans-serif;margin:0;background:#eef1f5;color:#16202c}"
    b"main{max-width:32rem;margin:auto;padding:.8rem}h1{font-size:1.35rem;margin:.3rem 0}"
    b"h2{font-size:1rem;margin:0 0 .3rem}fieldset,section{border:0;background:#fff;"
    b"border-radius:.6rem;margin:0 0 .9rem;padding:.8rem 1rem;box-shadow:0 1px 2px #0002;"
    b"min-width:0}legend{float:left;width:100%;padding:0;font-weight:600}legend+*{clear:both}"
    b"label{display:block;margin:.7rem 0 .2rem;font-size:.92rem}"
    b"input,select{font-size:1rem}[type=text],[type=password],[type=number],select{display:block;"
    b"width:100%;box-sizing:border-box;padding:.55rem;border:1px solid #b7c0cc;"
    b"border-radius:.4rem}.net,.chk{display:flex;align-items:center;gap:.6rem}"
    b".net{margin:0;padding:.55rem 0;border-bottom:1px solid #e6e9ee}"
    b".net small{margin-left:auto;color:#5b6775;white-space:nowrap}"
    b"[type=radio],[type=checkbox]{width:1.25rem;height:1.25rem;margin:0}"
    b".err{color:#b3261e;font-weight:600}[aria-invalid]{border-color:#b3261e}"
    b".err,.hint{font-size:.86rem;margin:.25rem 0 0}.hint{color:#5b6775}"
    b"button{width:100%;font-size:1.05rem;padding:.8rem;border:0;border-radius:.5rem;"
    b"background:#0a5cc2;color:#fff}a{color:#0a5cc2}.box{background:#fdecea;"
    b"color:#7a1a12;padding:.6rem .8rem;border-radius:.5rem;margin:0 0 .9rem}"
    b"table{width:100%;border-collapse:collapse;font-size:.92rem}td{padding:.3rem 0;"
    b"border-bottom:1px solid #e6e9ee;vertical-align:top}td+td{text-align:right;"
    b"padding-left:.6rem;word-break:break-all}pre{white-space:pre-wrap;font-size:.75rem;"
    b"margin:0;word-break:break-all}footer{color:#6b7683;font-size:.78rem;text-align:center}"
    b"</style></head><body><main>"
)
_END = b"<footer>%s</footer></main></body></html>"

from portal.http import esc  # noqa: E402,F401 (the pages' escaping)


def start(title, refresh=b""):
    """The page's head and heading; refresh: a <meta http-equiv=refresh> content."""
    meta = b'<meta http-equiv=refresh content="%s">' % refresh if refresh else b""
    t = esc(title)
    yield _HEAD % (meta, t)
    yield _CSS
    yield b"<h1>%s</h1>" % t


def end(footer):
    return _END % footer


def message(title, paragraphs, footer, refresh=b""):
    """A short page: a heading and paragraphs (already HTML)."""
    yield from start(title, refresh)
    for p in paragraphs:
        yield b"<section><p>%s</p></section>" % p
    yield end(footer)
