"""DVC's own view of a project, in the shape of `pipe dag --json`.

Run with the Python that has DVC installed, from anywhere:

    python dvc_graph.py PROJECT_ROOT

Prints {"stages": [...], "edges": [[upstream, downstream], ...]} to stdout. Stage ids are
named as `pipe import-dvc` names them (see `pipe_name`); a `.dvc` file's outs become tracked
data `data:PATH` with no cmd. A top-level `metrics`/`plots` path is shown as pipe carries
it: the flag on the stage out it names, or, when it lies inside a stage's directory out,
a metric/plot of that stage (a file of the out). A URL dep (`https://...`) is left out, as
pipe does not carry it (the import names it). DVC loads the project itself (`Repo(root).index`), so a
project DVC refuses makes this script fail with DVC's error.
"""

import json
import os
import sys

from dvc.repo import Repo


def pipe_name(directory, name):
    """A DVC stage `name` of the dvc.yaml in `directory`, as pipe names it."""
    parts = [p for p in directory.split("/") if p and p != "."]
    s = "".join(p + "." for p in parts) + name
    return "".join(
        "." if c == "@" else c if (c.isascii() and c.isalnum()) or c in "_-." else "_"
        for c in s
    )


def main(root):
    repo = Repo(root)
    top = os.path.realpath(repo.root_dir)

    def rel(p):
        r = os.path.relpath(os.path.realpath(p), top).replace(os.sep, "/")
        return r

    ids = {}
    stages = []
    cmd_stages = []  # (stage dict, its dvc.yaml's directory, DVC name)
    stages_by_obj = {}
    for st in repo.index.stages:
        outs = []
        for o in st.outs:
            outs.append(
                {
                    "path": rel(o.fs_path),
                    "cache": bool(o.use_cache),
                    "metric": bool(o.metric),
                    "plot": bool(o.plot),
                    "persist": bool(o.persist),
                }
            )
        if st.cmd is None:
            # A .dvc file: each out is tracked data.
            for o in outs:
                sid = "data:" + o["path"]
                ids.setdefault(id(st), []).append(sid)
                stages.append(
                    {
                        "id": sid,
                        "cmd": None,
                        "wdir": ".",
                        "deps": [],
                        "outs": [o],
                        "params": [],
                        "frozen": bool(st.frozen),
                        "always_changed": False,
                    }
                )
            continue
        directory = rel(os.path.dirname(st.dvcfile.path))
        if directory == ".":
            directory = ""
        sid = pipe_name(directory, st.name)
        ids[id(st)] = [sid]
        deps, params = [], []
        for d in st.deps:
            if type(d).__name__ == "ParamsDependency":
                # A whole file (no keys) is `*`.
                # A key named twice is one param (DVC reads and locks it once).
                for k in d.params or ["*"]:
                    entry = {"file": rel(d.fs_path), "key": k}
                    if entry not in params:
                        params.append(entry)
            elif d.protocol == "local":
                deps.append(rel(d.fs_path))
            # A URL dep (`https://...`, DVC's external dep) pipe does not carry (the
            # import names it), so it is not shown.
        cmd = st.cmd if isinstance(st.cmd, str) else "\n".join(st.cmd)
        stages.append(
            {
                "id": sid,
                "cmd": cmd,
                "wdir": rel(st.wdir),
                "deps": deps,
                "outs": outs,
                "params": params,
                "frozen": bool(st.frozen),
                "always_changed": bool(st.always_changed),
            }
        )
        cmd_stages.append((stages[-1], directory, st.name))
        stages_by_obj[id(st)] = stages[-1]
    # Stages that pipe_name gives one name (`train@a` and `train.a`) pipe keeps apart as
    # the importer does: a root stage already so named keeps it, else the first by
    # (directory, DVC name); the others are NAME_2, NAME_3, ...
    named = {}
    for s, directory, name in cmd_stages:
        named.setdefault(s["id"], []).append((s, directory, name))
    taken = {s["id"] for s in stages}
    for base, group in named.items():
        if len(group) < 2:
            continue
        group.sort(key=lambda g: (not (g[1] == "" and g[2] == base), g[1], g[2]))
        for s, _, _ in group[1:]:
            n = 2
            while f"{base}_{n}" in taken:
                n += 1
            new = f"{base}_{n}"
            taken.add(new)
            for k, v in ids.items():
                if stages_by_obj.get(k) is s:
                    ids[k] = [new]
            s["id"] = new
    by_path = {}
    for s in stages:
        for o in s["outs"]:
            by_path[o["path"]] = (s, o)
    for kind, table in (("metric", repo.index._metrics), ("plot", repo.index._plots)):
        for dvcfile, entries in table.items():
            base = os.path.dirname(dvcfile)
            for e in entries:
                for path in e if isinstance(e, dict) else [e]:
                    p = rel(os.path.join(base, path))
                    if p in by_path:
                        by_path[p][1][kind] = True
                        continue
                    for out, (s, o) in by_path.items():
                        if p.startswith(out + "/") and s["cmd"] is not None:
                            s["outs"].append(
                                {
                                    "path": p,
                                    "cache": True,
                                    "metric": kind == "metric",
                                    "plot": kind == "plot",
                                    "persist": False,
                                }
                            )
                            break
    edges = []
    # networkx edges point from a stage to the stage it depends on.
    for down, up in repo.index.graph.edges():
        for u in ids.get(id(up), []):
            for d in ids.get(id(down), []):
                edges.append([u, d])
    json.dump({"stages": stages, "edges": edges}, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
