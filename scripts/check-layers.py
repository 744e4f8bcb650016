#!/usr/bin/env python3
"""The layering rules of docs/src/architecture.md, checked over src/ (test modules aside).

1. No cycle between rooms (the top-level modules), the `error` sum type aside: every room
   may name it, and it names each room's error.
2. No cycle between files.
3. No arrow back up: the engine rooms never import `ops`, `report`, `cli` or `front`.

Exit 1 naming each breach; 0 when the rules hold.
"""
import collections
import os
import re
import sys

ENGINE = {"spec", "graph", "run", "sched", "exec", "events", "lock", "workspace",
          "wspath", "pathlock", "config", "builtin", "sharing", "compare", "import",
          "dvc", "exp", "session"}
UPPER = {"ops", "report", "cli", "front"}


def modules():
    out = {}
    for root, _, files in os.walk("src"):
        for f in files:
            if f.endswith(".rs"):
                p = os.path.join(root, f)
                m = p[4:-3].removesuffix("/mod").replace("/", "::")
                out["" if m in ("lib", "main") else m] = p
    return out


def code(path):
    text = re.split(r"#\[cfg\(test\)\]\s*mod tests", open(path).read())[0]
    return "\n".join(l for l in text.split("\n") if not l.strip().startswith("//"))


def resolve(mods, path):
    parts = path.split("::")
    while parts:
        m = "::".join(parts)
        if m in mods:
            return m
        parts = parts[:-1]
    return None


def edges(mods):
    files, rooms = collections.defaultdict(set), collections.defaultdict(set)
    for mod, path in mods.items():
        here = mod.split("::") if mod else []
        room = here[0] if here else ""
        for m in re.finditer(r"\b(crate|super)((?:::\w+)+)(::\{([^}]*)\})?", code(path)):
            base = [] if m.group(1) == "crate" else here[:-1]
            tails = [m.group(2)[2:]]
            if m.group(4):
                tails = [tails[0] + "::" + t.strip().split(" ")[0]
                         for t in m.group(4).split(",") if t.strip()]
            for t in tails:
                target = resolve(mods, "::".join(base + t.split("::")))
                if not target or target == mod or mod.startswith(target + "::"):
                    continue
                to_room = target.split("::")[0]
                if to_room == "error" or room == "error":
                    continue
                files[mod].add(target)
                if to_room != room:
                    rooms[room].add(to_room)
    return files, rooms


def cycles(graph):
    sys.setrecursionlimit(100000)
    index, low, stack, on, found, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in list(graph):
        if v not in index:
            visit(v)
    return found


def main():
    os.chdir(os.path.join(os.path.dirname(__file__), ".."))
    files, rooms = edges(modules())
    breaches = [f"rooms import each other round a loop: {' <-> '.join(c)}" for c in cycles(rooms)]
    breaches += [f"files import each other round a loop: {' <-> '.join(c)}" for c in cycles(files)]
    breaches += [f"engine room `{r}` imports `{u}`" for r in sorted(ENGINE)
                 for u in sorted(rooms.get(r, set()) & UPPER)]
    for b in breaches:
        print(f"check-layers: {b}", file=sys.stderr)
    if not breaches:
        print(f"check-layers: {len(files)} files, {len(rooms)} rooms: no cycle, no arrow back up")
    return 1 if breaches else 0


if __name__ == "__main__":
    sys.exit(main())
