#!/usr/bin/env python3
"""Checks that every C++ block of docs/migration.md is in the test that runs it.

Usage: check_migration_snippets.py MIGRATION_MD TEST_CPP

A block counts as present when its lines, each stripped of surrounding
whitespace, appear as consecutive lines of the test file (stripped the same
way): the test may indent a snippet inside a test case, nothing else.
Fails, naming the block and its first missing line, when one is not there,
and when the guide has no C++ block at all.
"""
import re
import sys

FENCE = re.compile(r"^```(\w*)\s*$")


def cpp_blocks(markdown: str):
    blocks, current, start, lang = [], None, 0, ""
    for number, line in enumerate(markdown.splitlines(), 1):
        m = FENCE.match(line.strip())
        if m and current is None:
            current, start, lang = [], number, m.group(1)
        elif line.strip() == "```" and current is not None:
            if lang == "cpp":
                blocks.append((start, current))
            current = None
        elif current is not None:
            current.append(line.strip())
    return blocks


def find(block, lines):
    """Index of the first line of block in lines, or the first line that never matches."""
    body = [l for l in block if l]
    for i in range(len(lines) - len(body) + 1):
        j, k = i, 0
        while k < len(body) and j < len(lines):
            if not lines[j]:
                j += 1
                continue
            if lines[j] != body[k]:
                break
            j, k = j + 1, k + 1
        if k == len(body):
            return None
    present = set(lines)
    return next((l for l in body if l not in present), body[0])


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as f:
        blocks = cpp_blocks(f.read())
    with open(sys.argv[2], encoding="utf-8") as f:
        lines = [l.strip() for l in f.read().splitlines()]
    if not blocks:
        print(f"{sys.argv[1]}: no ```cpp block found")
        return 1
    failures = 0
    for start, block in blocks:
        missing = find(block, lines)
        if missing is not None:
            failures += 1
            print(f"{sys.argv[1]}:{start}: this C++ block is not in {sys.argv[2]} "
                  f"(first line not found there in order: {missing!r})")
    print(f"migration snippets: {len(blocks) - failures} of {len(blocks)} C++ blocks found in the test")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
