"""Export the built lesson notebooks to reveal.js slide decks that open with no network.

nbconvert's slides template loads reveal.js, require.js, jQuery, MathJax, Mermaid and the
Jupyter widgets renderer from CDNs. This command fetches pinned releases of all but Mermaid
from the npm registry with ``npm pack`` and checks each archive against the sha512 integrity
that the registry publishes. It copies the files a deck uses into a ``vendor`` folder beside
the decks and points the template at that folder. Mermaid is left out, because no lesson draws
a Mermaid diagram. Each language folder gets its own ``vendor`` copy, so a deck opened from
disk (``file://``) loads everything from its own folder or below it, which browsers with
strict rules for local files allow.

Decks are written to ``build/slides/<language>/<lesson>.slides.html``. A deck shows the stored
outputs of its notebook, so build the notebooks first (``python notebooks/build.py``). Widget
explorers appear in their saved state: their sliders move, but with no kernel the heatmap and
the summary do not follow them.

Usage:
    python notebooks/slides.py                   export every lesson in both languages
    python notebooks/slides.py 01_padding_trap   export one lesson
    python notebooks/slides.py --output DIR      write the decks under DIR
"""

from __future__ import annotations

import argparse
import base64
import copy
import fnmatch
import hashlib
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbconvert import SlidesExporter

NOTEBOOKS = Path(__file__).resolve().parent
REPOSITORY = NOTEBOOKS.parent
DEFAULT_OUTPUT = REPOSITORY / "build" / "slides"
PACKAGE_CACHE = REPOSITORY / "build" / "npm-packages"
TEMPLATES = NOTEBOOKS / "templates"
LANGUAGES = ("en", "zh-TW")
INDEX_STEM = "00_index"
NPM_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class VendorPackage:
    """An npm release copied beside the decks: which files, and where they go under ``vendor/``."""

    name: str
    version: str
    integrity: str  # the registry's dist.integrity of the release archive
    folder: str
    files: tuple[str, ...]  # fnmatch patterns relative to the archive's package/ folder

    @property
    def archive_name(self) -> str:
        return f"{self.name.lstrip('@').replace('/', '-')}-{self.version}.tgz"


VENDOR_PACKAGES = (
    VendorPackage(
        "reveal.js", "4.6.1",
        "sha512-1CW0auaXNPmwmvQ7TwpszwVxMi2Xr5cTS3J3EBC/HHgbPF32Dn7aiu/LKWDOGjMbaDwKQiGmfqcoGQ74HUHCMw==",
        "reveal.js",
        ("dist/reveal.js", "dist/reveal.css", "dist/theme/white.css", "dist/theme/fonts/source-sans-pro/*",
         "plugin/notes/*"),
    ),
    VendorPackage(
        "requirejs", "2.3.7",
        "sha512-DouTG8T1WanGok6Qjg2SXuCMzszOo0eHeH9hDZ5Y4x8Je+9JB38HdTLT4/VA8OaUhBa0JPVHJ0pyBkM1z+pDsw==",
        "requirejs",
        ("require.js",),
    ),
    VendorPackage(
        "jquery", "3.7.1",
        "sha512-m4avr8yL8kmFN8psrbFFFmB/If14iN5o9nw/NgnnM+kybDJpRsAynV2BsfpTYrTRysYUdADVD7CkUUizgkpLfg==",
        "jquery",
        ("dist/jquery.min.js",),
    ),
    # MathJax 2, because the template's configuration script calls the MathJax 2 API
    # (MathJax.Hub). Only the TeX input, the CommonHTML output and its woff fonts are copied.
    VendorPackage(
        "mathjax", "2.7.9",
        "sha512-NOGEDTIM9+MrsqnjPEjVGNx4q0GQxqm61yQwSK+/5S59i26wId5IC5gNu9/bu8+CCVl5p9G2IHcAl/wJa+5+BQ==",
        "mathjax",
        ("MathJax.js", "config/TeX-AMS_CHTML-full.js", "config/Safe.js", "extensions/*", "jax/input/TeX/*", "jax/element/*",
         "jax/output/CommonHTML/*", "jax/output/PreviewHTML/*", "jax/output/NativeMML/*",
         "fonts/HTML-CSS/TeX/woff/*", "localization/*"),
    ),
    # The widgets renderer for ipywidgets 8. Its AMD bundle contains the base and controls
    # widgets, so it loads nothing else for the explorers.
    VendorPackage(
        "@jupyter-widgets/html-manager", "1.0.7",
        "sha512-2xGwS7vVd2RGlKMiSqj1vYv2X59V73ygefUodhzy9Bho0mswWT/yo3Cg7MaYOqwozQjNo5k3rbJ3cETXWUwJ/g==",
        "html-manager",
        ("dist/embed-amd.js", "dist/*.woff", "dist/*.woff2", "dist/*.ttf", "dist/*.eot", "dist/*.svg"),
    ),
)


class VendorError(RuntimeError):
    """A vendored package could not be fetched, or its archive failed the integrity check."""


def sha512_integrity(path: Path) -> str:
    """Return the Subresource Integrity string (``sha512-<base64>``) of the file at ``path``."""
    digest = hashlib.sha512(path.read_bytes()).digest()
    return "sha512-" + base64.b64encode(digest).decode("ascii")


def fetch_archive(package: VendorPackage, cache: Path) -> Path:
    """Return the checked release archive of ``package``, running ``npm pack`` if it is not cached."""
    archive = cache / package.archive_name
    if not archive.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise VendorError(
                "npm was not found; the slides need it once to fetch reveal.js and MathJax. "
                "Install Node.js and npm (on Debian: apt-get install npm) and run this command again."
            )
        cache.mkdir(parents=True, exist_ok=True)
        command = [npm, "pack", f"{package.name}@{package.version}", "--pack-destination", str(cache), "--silent"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=NPM_TIMEOUT_SECONDS)
        if result.returncode != 0 or not archive.exists():
            raise VendorError(
                f"'{' '.join(command)}' failed with exit code {result.returncode}: {result.stderr.strip()}"
            )
    integrity = sha512_integrity(archive)
    if integrity != package.integrity:
        archive.unlink()
        raise VendorError(
            f"{archive} has integrity {integrity}, expected {package.integrity}; the archive was deleted, "
            "run the command again to fetch it anew"
        )
    return archive


def install_vendor(directory: Path, cache: Path = PACKAGE_CACHE) -> None:
    """Copy the files the decks load into ``directory``, one folder per package."""
    for package in VENDOR_PACKAGES:
        archive = fetch_archive(package, cache)
        target_root = directory / package.folder
        copied = 0
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar.getmembers():
                # npm archives put every file under "package/"; anything else is not part of the release.
                if not member.isfile() or not member.name.startswith("package/"):
                    continue
                relative = member.name.removeprefix("package/")
                if ".." in Path(relative).parts or not any(fnmatch.fnmatch(relative, pattern) for pattern in package.files):
                    continue
                target = target_root / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as source, open(target, "wb") as sink:
                    shutil.copyfileobj(source, sink)
                copied += 1
        if copied == 0:
            raise VendorError(f"no file of {archive.name} matched {package.files}")


def make_exporter(language: str) -> SlidesExporter:
    """Return a slides exporter whose every script and stylesheet is a path under ``vendor/``."""
    exporter = SlidesExporter(
        extra_template_basedirs=[str(TEMPLATES)],
        template_name="qlesson_reveal",
        reveal_url_prefix="vendor/reveal.js",
        # The default theme, "simple", imports its fonts from Google Fonts; "white" ships its own.
        reveal_theme="white",
        reveal_number="c/t",
        # A slide taller than the screen scrolls, so a long code cell or an explorer is not cut off.
        reveal_scroll=True,
        require_js_url="vendor/requirejs/require.js",
        jquery_url="vendor/jquery/dist/jquery.min.js",
        mathjax_url="vendor/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe",
        widget_renderer_url="vendor/html-manager/dist/embed-amd.js",
        language_code=language,
    )
    return exporter


def export_deck(notebook_path: Path, language: str, directory: Path) -> Path:
    """Write the deck of one lesson notebook into ``directory`` and return its path."""
    notebook = nbformat.read(notebook_path, as_version=4)
    notebook = copy.deepcopy(notebook)
    title = first_heading(notebook)
    if title:
        notebook.metadata["title"] = title
    body, _ = make_exporter(language).from_notebook_node(notebook, resources={"metadata": {"name": notebook_path.stem}})
    target = directory / f"{notebook_path.stem}.slides.html"
    target.write_text(body, encoding="utf-8")
    return target


def first_heading(notebook: nbformat.NotebookNode) -> str | None:
    """Return the text of the first level-1 Markdown heading, the lesson title."""
    for cell in notebook.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    return None


def lesson_notebooks(language: str, stems: list[str] | None = None) -> list[Path]:
    """Return the built lesson notebooks of ``language`` in lesson order, without the contents page."""
    paths = sorted((NOTEBOOKS / language).glob("[0-9][0-9]_*.ipynb"))
    return [path for path in paths if path.stem != INDEX_STEM and (not stems or path.stem in stems)]


def export_all(output: Path, stems: list[str] | None = None, cache: Path = PACKAGE_CACHE) -> list[Path]:
    """Export every requested lesson in both languages under ``output``; return the deck paths."""
    decks = []
    for language in LANGUAGES:
        directory = output / language
        directory.mkdir(parents=True, exist_ok=True)
        install_vendor(directory / "vendor", cache)
        for notebook_path in lesson_notebooks(language, stems):
            decks.append(export_deck(notebook_path, language, directory))
    return decks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lessons", nargs="*", help="lesson stems such as 01_padding_trap (default: all)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                        help=f"folder for the decks, one subfolder per language (default: {DEFAULT_OUTPUT})")
    arguments = parser.parse_args(argv)
    known = {path.stem for path in lesson_notebooks("en")}
    unknown = [stem for stem in arguments.lessons if stem not in known]
    if unknown:
        parser.error(f"no built notebook for {unknown}; known lessons: {sorted(known)}; "
                     "run python notebooks/build.py first")
    if not known:
        parser.error("no built lesson notebook in notebooks/en; run python notebooks/build.py first")
    try:
        decks = export_all(arguments.output, arguments.lessons or None)
    except VendorError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for deck in decks:
        print(f"wrote {deck}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
