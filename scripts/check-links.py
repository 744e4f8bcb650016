#!/usr/bin/env python3
"""Checks the relative links of the built book and of the repository's Markdown front door.

    scripts/check-links.py BOOK_DIR [MARKDOWN...]

BOOK_DIR is mdBook's output (docs/book): in every .html file, every relative `href` and
`src` must name a file inside BOOK_DIR, and every `#anchor` an `id` (or `<a name>`) in the
page it points at. Links with a scheme (https:, mailto:, ...) are not followed: the book is
checked offline. The theme's own files (the fonts, scripts and styles mdBook writes) are
checked like any other.

Each MARKDOWN file (README.md, bench/README.md) is read as GitHub shows it: every relative
link `[text](path#anchor)` and image must name a file or directory of the repository
(relative to the Markdown file), and an anchor must be a heading of the Markdown file it
points at, slugged as GitHub slugs headings.

Prints each broken link with the file that holds it and exits 1 if there is any; prints a
one-line count and exits 0 otherwise. Needs only Python's standard library.
"""

import html.parser
import os
import re
import sys
import urllib.parse


class Page(html.parser.HTMLParser):
    """The links and the anchors of one HTML page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links = []
        self.ids = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("name"):
            self.ids.add(a["name"])
        if tag == "base":
            return  # not a link: mdBook's 404 page names the site's root with it
        for key in ("href", "src"):
            if a.get(key) is not None:
                self.links.append((tag, key, a[key]))


def external(url):
    return bool(urllib.parse.urlsplit(url).scheme) or url.startswith("//")


def parse_html(path):
    page = Page()
    with open(path, encoding="utf-8") as f:
        page.feed(f.read())
    return page


def check_book(book):
    book = os.path.realpath(book)
    pages = {}
    for dirpath, _, files in os.walk(book):
        for name in files:
            if name.endswith(".html"):
                p = os.path.join(dirpath, name)
                pages[p] = parse_html(p)
    broken = []
    count = 0
    for path, page in sorted(pages.items()):
        rel = os.path.relpath(path, book)
        for tag, key, url in page.links:
            if external(url) or url.startswith("javascript:"):
                continue
            count += 1
            parts = urllib.parse.urlsplit(url)
            target = path
            if parts.path:
                target = os.path.realpath(
                    os.path.join(os.path.dirname(path), urllib.parse.unquote(parts.path))
                )
                if os.path.isdir(target):
                    target = os.path.join(target, "index.html")
                if not (target == book or target.startswith(book + os.sep)):
                    broken.append(f"{rel}: <{tag} {key}=\"{url}\">: leaves the book")
                    continue
                if not os.path.isfile(target):
                    broken.append(f"{rel}: <{tag} {key}=\"{url}\">: no such file")
                    continue
            anchor = urllib.parse.unquote(parts.fragment)
            if anchor:
                ids = pages[target].ids if target in pages else None
                if ids is None:
                    broken.append(f"{rel}: <{tag} {key}=\"{url}\">: #{anchor} in a page that is not HTML")
                elif anchor not in ids:
                    broken.append(f"{rel}: <{tag} {key}=\"{url}\">: no #{anchor} there")
    return count, broken


# Markdown, as GitHub renders it.

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
# [text](target) and ![alt](target); the target ends at the first space or ')'.
LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
INLINE_CODE = re.compile(r"`+[^`]*`+")


def markdown_lines(path):
    """The lines of a Markdown file outside fenced code blocks."""
    out = []
    fenced = False
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if FENCE.match(line):
                fenced = not fenced
                continue
            if not fenced:
                out.append((n, line.rstrip("\n")))
    return out


def github_slug(text):
    """A heading's anchor as GitHub makes it: markup dropped, lower case, punctuation
    removed (but `-` and `_`), each space a `-`."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links: their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("`", "").replace("*", "")
    text = text.lower()
    text = re.sub(r"[^\w\- ]", "", text, flags=re.UNICODE)
    return text.replace(" ", "-")


def markdown_anchors(path):
    anchors = set()
    seen = {}
    for _, line in markdown_lines(path):
        m = HEADING.match(line)
        if not m:
            continue
        slug = github_slug(m.group(2))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def check_markdown(path):
    broken = []
    count = 0
    here = os.path.dirname(os.path.abspath(path))
    for n, line in markdown_lines(path):
        for m in LINK.finditer(INLINE_CODE.sub("", line)):
            url = m.group(1)
            if not url or external(url):
                continue
            count += 1
            parts = urllib.parse.urlsplit(url)
            target = os.path.abspath(path)
            if parts.path:
                target = os.path.normpath(os.path.join(here, urllib.parse.unquote(parts.path)))
                if not os.path.exists(target):
                    broken.append(f"{path}:{n}: ({url}): no such file")
                    continue
            anchor = urllib.parse.unquote(parts.fragment)
            if anchor:
                if not target.endswith(".md"):
                    broken.append(f"{path}:{n}: ({url}): #{anchor} in a file that is not Markdown")
                elif anchor not in markdown_anchors(target):
                    broken.append(f"{path}:{n}: ({url}): no heading #{anchor} there")
    return count, broken


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    book, markdown = argv[1], argv[2:]
    if not os.path.isfile(os.path.join(book, "index.html")):
        print(f"check-links: {book} holds no built book (no index.html)", file=sys.stderr)
        return 2
    total, broken = check_book(book)
    for md in markdown:
        if not os.path.isfile(md):
            print(f"check-links: no such Markdown file: {md}", file=sys.stderr)
            return 2
        c, b = check_markdown(md)
        total += c
        broken += b
    for b in broken:
        print(f"broken link: {b}", file=sys.stderr)
    if broken:
        print(f"check-links: {len(broken)} broken of {total} relative links", file=sys.stderr)
        return 1
    print(f"check-links: {total} relative links, none broken ({book} and {len(markdown)} Markdown file(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
