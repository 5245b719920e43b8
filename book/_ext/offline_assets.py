"""Sphinx extension: the built book loads nothing from outside itself.

The notebooks' title cells show the standard Colab badge, an image hosted by Google
(``https://colab.research.google.com/assets/colab-badge.svg``). In Colab and on GitHub that is what a reader
expects, but a static page that loads it breaks offline (a failed request and a console error). After the
build this extension points every ``<img src=...>`` of that badge at ``_static/colab-badge.svg`` (a local
drawing of the same badge); the badge's *link* to Colab is untouched. The widget and maths JavaScript are made
local by configuration (``nb_ipywidgets_js`` and ``mathjax_path`` in ``_config.yml``).

It also removes duplicated script tags (see :func:`_drop_duplicate_scripts`).
"""

from __future__ import annotations

import os
from pathlib import Path

REMOTE_IMAGES = {
    "https://colab.research.google.com/assets/colab-badge.svg": "colab-badge.svg",
}


def _localise(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    static = outdir / "_static"
    for page in outdir.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        new = text
        for remote, local in REMOTE_IMAGES.items():
            if (static / local).is_file():
                rel = os.path.relpath(static / local, page.parent).replace(os.sep, "/")
                new = new.replace(f'src="{remote}"', f'src="{rel}"')
        if new != text:
            page.write_text(new, encoding="utf-8")


def _drop_duplicate_scripts(app, pagename, templatename, context, doctree) -> None:
    """Keep one copy of each script tag. sphinx-thebe registers its inline configuration once per
    ``env-before-read-docs``, which Jupyter Book fires more than once, so pages declared
    ``const THEBE_JS_URL`` twice and the browser reported a SyntaxError. Runs early (priority 100) because
    ``html-page-context`` stops at the first handler that returns a template name."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for js in scripts:
        # an inline script's filename is None or "" depending on who registered it
        key = (getattr(js, "filename", str(js)) or None, repr(sorted(getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    scripts[:] = unique  # in place: handlers after this one add per-page scripts to the same list


def setup(app):
    app.connect("html-page-context", _drop_duplicate_scripts, priority=100)
    app.connect("build-finished", _localise)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
