"""The code blocks of README.md and docs/*.md: found, run (python) or checked (console, sh) by test_docs.

A fenced block's language is the word after its opening fence. The line right before the fence may
mark it: `<!-- fragment -->` (a piece of code that cannot run alone: not run), or
`<!-- file: NAME -->` (the file NAME of a walkthrough: test_docs writes it out and runs it as a user
would). Every other ```python block runs.

Run as `python -m microcosm_pubsub.tests.doc_examples FILE` (from the repository's root), this module
runs FILE's python blocks in order in one module namespace, as a reader would paste them into one
session, and then the `unittest.TestCase` classes each block defined; a failure names FILE and the
line of the block, and exits 1.
"""
from __future__ import annotations

import re
import shlex
import sys
import traceback
import types
import unittest
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<language>[\w+-]*)")
MARKER = re.compile(r"^\s*<!--\s*(?P<marker>fragment|file:\s*(?P<file>\S+))\s*-->\s*$")
HEADING = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown file."""

    path: Path
    # The line of the opening fence (1-based), which a failure names
    line: int
    language: str
    code: str
    # The heading the block sits under
    section: str
    fragment: bool = False
    # The walkthrough file this block is, when marked so
    file: str | None = None

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def documents(root: Path = ROOT) -> list[Path]:
    """The user-facing Markdown files: the README and every page under docs/, relative to `root`."""
    return [Path("README.md"), *sorted(path.relative_to(root) for path in (root / "docs").glob("*.md"))]


def blocks(path: Path, root: Path = ROOT) -> list[Block]:
    """Every fenced block of `path` (relative to `root`), its indentation (a block inside a list item) removed."""
    lines = (root / path).read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    section = ""
    index = 0
    while index < len(lines):
        line = lines[index]
        opening = FENCE.match(line)
        if opening is None:
            heading = HEADING.match(line)
            if heading:
                section = heading["title"]
            index += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        marker = MARKER.match(lines[index - 1]) if index > 0 else None
        body: list[str] = []
        index += 1
        while index < len(lines) and not (
            lines[index].strip().startswith(fence[0] * len(fence)) and not lines[index].strip().strip(fence[0])
        ):
            body.append(lines[index][len(indent):] if lines[index].startswith(indent) else lines[index].lstrip())
            index += 1
        found.append(Block(
            path=path, line=index - len(body), language=opening["language"].lower(), code="\n".join(body) + "\n",
            section=section, fragment=bool(marker and marker["marker"] == "fragment"),
            file=marker["file"] if marker else None,
        ))
        index += 1
    return found


def runnable(block: Block) -> bool:
    """Whether the doc runner runs this block: python, neither a fragment nor a walkthrough's file."""
    return block.language == "python" and not block.fragment and block.file is None


def commands(block: Block) -> Iterator[list[str]]:
    """The commands of a console block (its `$ ` lines) or an sh block (every line), as shell words.

    Comments, variable assignments before a command and `;`, `&&`, `|` separators are taken apart;
    redirections stay as words (`>`, `2>&1`).
    """
    if block.language == "console":
        lines = [line[2:] for line in block.code.splitlines() if line.startswith("$ ")]
    else:
        lines = [line for line in block.code.splitlines() if line.strip()]
    for line in lines:
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";|")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        command: list[str] = []
        for word in lexer:
            if word in (";", "&&", "||", "|", "&"):
                if command:
                    yield command
                command = []
            elif command or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", word):
                command.append(word)
        if command:
            yield command


def run_file(path: Path) -> int:
    """Run the python blocks of `path` in order in one module; 0 when all ran and their tests passed."""
    name = "doc_" + re.sub(r"\W", "_", path.stem.lower())
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module
    seen: set[type] = set()
    for block in blocks(path):
        if not runnable(block):
            continue
        # Padding with blank lines makes every traceback line the Markdown file's own line number
        code = compile("\n" * block.line + block.code, str(path), "exec")
        try:
            exec(code, module.__dict__)
        except BaseException:
            print(f"{block.where}: this python block failed:\n{traceback.format_exc()}", file=sys.stderr)
            return 1
        cases = [
            value for value in list(vars(module).values())
            if isinstance(value, type) and issubclass(value, unittest.TestCase) and value.__module__ == name
            and value not in seen
        ]
        seen.update(cases)
        suite = unittest.TestSuite(unittest.defaultTestLoader.loadTestsFromTestCase(case) for case in cases)
        if suite.countTestCases():
            result = unittest.TextTestRunner(stream=sys.stderr, verbosity=0).run(suite)
            if not result.wasSuccessful():
                print(f"{block.where}: the tests this python block defines failed (above)", file=sys.stderr)
                return 1
    return 0


def main(argv: Sequence[str]) -> int:
    status = 0
    for argument in argv:
        status = run_file(Path(argument)) or status
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
