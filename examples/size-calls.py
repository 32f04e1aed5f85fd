"""Reads `objdump -d` of a Cortex-M ELF on stdin; prints the 64-/128-bit
division helpers reachable from the function named in argv[1], each with
the functions that call it directly (demangled)."""

import re
import subprocess
import sys

HELPERS = ("__aeabi_ldivmod", "__aeabi_uldivmod", "__udivti3", "__divti3",
           "__umodti3", "__modti3", "__udivmodti4", "__udivmoddi4", "__divdi3", "__udivdi3")

funcs = {}
cur = None
for line in sys.stdin:
    m = re.match(r"^[0-9a-f]+ <(.+)>:$", line)
    if m:
        cur = m.group(1)
        funcs[cur] = set()
        continue
    m = re.search(r"\b(?:bl|b\.w|b|blx)\s+[0-9a-f]+ <([^>+]+)(?:\+0x[0-9a-f]+)?>", line)
    if m and cur is not None and m.group(1) != cur:
        funcs[cur].add(m.group(1))

root = sys.argv[1]
seen, todo = set(), [root]
while todo:
    f = todo.pop()
    if f in seen or f not in funcs:
        continue
    seen.add(f)
    todo.extend(funcs[f])

callers = {}
for f in seen:
    for g in funcs[f]:
        if g in HELPERS:
            callers.setdefault(g, set()).add(f)


def demangle(names):
    try:
        out = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True,
                             text=True, check=True).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        out = list(names)
    return [re.sub(r"::h[0-9a-f]{16}$", "", n) for n in out[: len(names)]]


parts = []
for h in sorted(callers):
    names = sorted(callers[h])
    parts.append(f"`{h}` [{'; '.join(demangle(names))}]")
print(", ".join(parts))
