#!/usr/bin/env python
"""Fetch the JavaScript the built book needs from the npm registry, so that pages load nothing from a CDN.

The static book shows ipywidgets (their state is saved when the build executes the notebooks) and maths.
By default myst-nb loads require.js from cdnjs and ``@jupyter-widgets/html-manager`` from jsDelivr, and
Sphinx loads MathJax from jsDelivr; offline (or behind a firewall) widgets and formulas then vanish silently.
This script runs ``npm pack`` for pinned versions (npm checks each tarball against the registry's integrity
hash), checks our own SHA-256 of the files we keep, and copies them into ``book/_static/vendor/``, which
``_config.yml`` points myst-nb (``nb_ipywidgets_js``) and Sphinx (``mathjax_path``) at.

Usage: ``python scripts/fetch_vendor_js.py [--force]`` (``make vendor``; ``make book`` calls it).
Tarballs are cached in ``.cache/npm-vendor/``; an up-to-date ``book/_static/vendor`` is left alone.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT / "book" / "_static" / "vendor"
CACHE = ROOT / ".cache" / "npm-vendor"

#: package spec -> list of (path inside the tarball, destination under vendor/), and a tree to copy
PACKAGES: dict[str, dict] = {
    "requirejs@2.3.4": {
        "files": {"package/require.js": "require.js", "package/README.md": "requirejs-README.md"},
        "license_from": None,  # requirejs 2.3.4 states its MIT licence in the header of require.js
    },
    "@jupyter-widgets/html-manager@1.0.6": {
        # the widget CSS refers to Font Awesome fonts beside the bundle (webpack public path: see
        # book/_static/widgets-config.js, which tells require.js where that is)
        "trees": {"package/dist/": ("html-manager/", (".woff2", ".woff", ".ttf", ".eot", ".svg"))},
        "files": {
            "package/dist/embed-amd.js": "html-manager/embed-amd.js",
            "package/LICENSE": "html-manager/LICENSE",
        },
    },
    "mathjax@3.2.2": {
        # tex-chtml.js loads its fonts and lazily its extensions relative to its own folder
        "trees": {"package/es5/": ("mathjax/", None)},
        "files": {"package/LICENSE": "mathjax/LICENSE"},
    },
}

#: SHA-256 of the files the pages load (a changed upstream tarball fails loudly)
SHA256 = {
    "require.js": "ccfb1e9274a64cdefdd28f5f8e83c547f8071e617600f32428b80791ee114cce",
    "html-manager/embed-amd.js": "b129dee93e124bd7cdc2e1a50f3074029f37de34ace5e2a941e345b28c76d06f",
    "mathjax/tex-chtml.js": "0a6ded5abbce13331658dd239f34382abd06492c74b71b61e8caa8112ec55fa5",
}

STAMP = VENDOR / "vendor.json"


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit(
            "fetch_vendor_js: `npm` not found. Install Node.js and npm (Debian: apt-get install -y nodejs npm); "
            "the book's widget and maths JavaScript come from the npm registry."
        )
    return npm


def _pack(spec: str) -> Path:
    """``npm pack spec`` into the cache (npm verifies the registry's integrity hash); returns the tarball."""
    CACHE.mkdir(parents=True, exist_ok=True)
    name = spec.rsplit("@", 1)[0].lstrip("@").replace("/", "-")
    version = spec.rsplit("@", 1)[1]
    tgz = CACHE / f"{name}-{version}.tgz"
    if not tgz.is_file():
        print(f"fetch_vendor_js: npm pack {spec}", flush=True)
        out = subprocess.run(
            [_npm(), "pack", spec, "--json", "--silent", "--pack-destination", str(CACHE)],
            capture_output=True, text=True, timeout=300,
        )
        if out.returncode != 0:
            raise SystemExit(f"fetch_vendor_js: `npm pack {spec}` failed:\n{out.stderr or out.stdout}")
        info = json.loads(out.stdout)
        produced = CACHE / info[0]["filename"]
        if produced != tgz:
            produced.replace(tgz)
    return tgz


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _extract(tgz: Path, plan: dict) -> list[str]:
    written = []
    files: dict[str, str] = plan.get("files", {})
    trees: dict[str, tuple[str, tuple[str, ...] | None]] = plan.get("trees", {})
    with tarfile.open(tgz, "r:gz") as tar:
        names = set(tar.getnames())
        missing = [f for f in files if f not in names]
        if missing:
            raise SystemExit(f"fetch_vendor_js: {tgz.name} lacks {missing}")
        for member in tar.getmembers():
            dest = None
            if member.name in files:
                dest = files[member.name]
            else:
                for prefix, (target, suffixes) in trees.items():
                    if (member.name.startswith(prefix) and member.isfile()
                            and (suffixes is None or member.name.endswith(suffixes))):
                        dest = target + member.name[len(prefix):]
                        break
            if dest is None or not member.isfile():
                continue
            if ".." in Path(dest).parts:
                raise SystemExit(f"fetch_vendor_js: refusing path {member.name}")
            target = VENDOR / dest
            target.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(member) as src:  # type: ignore[union-attr]
                target.write_bytes(src.read())
            written.append(dest)
    return written


def _plan_digest() -> str:
    """Changes whenever PACKAGES changes, so an edited plan re-extracts."""
    return hashlib.sha256(repr(sorted(PACKAGES.items())).encode()).hexdigest()[:16]


def _up_to_date() -> bool:
    if not STAMP.is_file():
        return False
    try:
        stamp = json.loads(STAMP.read_text())
    except json.JSONDecodeError:
        return False
    if stamp.get("plan") != _plan_digest():
        return False
    return all((VENDOR / rel).is_file() and _sha256(VENDOR / rel) == digest
               for rel, digest in stamp.get("sha256", {}).items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="re-extract even when up to date")
    args = parser.parse_args(argv)
    if not args.force and _up_to_date():
        print(f"fetch_vendor_js: {VENDOR.relative_to(ROOT)} up to date")
        return 0
    if VENDOR.exists():
        shutil.rmtree(VENDOR)
    VENDOR.mkdir(parents=True)
    for spec, plan in PACKAGES.items():
        _extract(_pack(spec), plan)
    digests = {}
    for rel, expected in SHA256.items():
        path = VENDOR / rel
        if not path.is_file():
            raise SystemExit(f"fetch_vendor_js: expected {path} after extraction")
        got = _sha256(path)
        if got != expected:
            raise SystemExit(f"fetch_vendor_js: SHA-256 mismatch for {rel}: {got} != {expected}")
        digests[rel] = got
    STAMP.write_text(json.dumps({"plan": _plan_digest(), "sha256": digests}, indent=1) + "\n")
    size = sum(p.stat().st_size for p in VENDOR.rglob("*") if p.is_file()) / 1e6
    print(f"fetch_vendor_js: wrote {VENDOR.relative_to(ROOT)} ({size:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
