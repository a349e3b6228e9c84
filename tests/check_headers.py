#!/usr/bin/env python3
"""Every public header (include/descent/**.h) is reachable from descent/descent.h
through #include "descent/..." lines, so that one include gives all of descent.
Argument: the include directory."""
import os
import re
import sys

root = sys.argv[1]
seen, stack = set(), ["descent/descent.h"]
while stack:
    header = stack.pop()
    if header in seen:
        continue
    seen.add(header)
    with open(os.path.join(root, header)) as f:
        stack += re.findall(r'#include "(descent/[^"]+)"', f.read())
public = {os.path.relpath(os.path.join(d, f), root)
          for d, _, files in os.walk(os.path.join(root, "descent")) for f in files if f.endswith(".h")}
missing = sorted(public - seen)
if missing:
    sys.exit("not reachable from descent/descent.h: " + ", ".join(missing))
print(f"descent.h reaches all {len(public)} public headers")
