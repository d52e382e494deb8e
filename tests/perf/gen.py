#!/usr/bin/env python3
"""Generates large or deep inputs for the parser and compiler scaling checks.

    python3 tests/perf/gen.py big 50 > big.wflow        # ~50 MB of workflows
    python3 tests/perf/gen.py nodes 8000 > nodes.wflow  # one workflow, 8000 nodes
    python3 tests/perf/gen.py path 400000 > path.wflow  # jq path .a.a.a... of 400k segments
    python3 tests/perf/gen.py braces 30 > braces.wflow  # a line of 30 unclosed `{`
    python3 tests/perf/gen.py deep 5000 > deep.wflow    # x `"` [[[[... 5000 deep
"""
import sys

import os

# The workflow `big` repeats, with `{i}` for its number; `wflow bench --big` writes the same.
WORKFLOW = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "workflow.tmpl")).read()


def nodes(n):
    out = ['workflow many "Many" {\n  form trigger "T" {\n    input a: string "A"\n  }\n']
    for i in range(n):
        out.append(f'  webhook n{i} "N{i}" {{\n    url "https://x.example.com/{i}"\n  }}\n')
    out.append("  flow {\n    trigger -> n0\n")
    for i in range(1, n):
        out.append(f"    n{i - 1} -> n{i}\n")
    out.append("  }\n}\n")
    return "".join(out)


def main():
    kind, n = sys.argv[1], int(sys.argv[2])
    w = sys.stdout.write
    if kind == "big":
        i, size = 0, 0
        while size < n * 1_000_000:
            text = WORKFLOW.replace("{i}", str(i))
            w(text)
            size += len(text)
            i += 1
    elif kind == "nodes":
        w(nodes(n))
    elif kind == "path":
        w('workflow p "P" {\n  form trigger "T" {\n    input a: string "A"\n  }\n')
        w('  webhook h "H" {\n    url "https://x.example.com"\n    body { v: "{{ .outputs.trigger' + ".a" * n + ' }}" }\n  }\n')
        w("  flow {\n    trigger -> h\n  }\n}\n")
    elif kind == "braces":
        w("workflow w " + "{" * n + "\n")
    elif kind == "deep":
        w('x `"` ' + "[" * n + "\n")
    else:
        sys.exit(f"unknown kind {kind}")


main()
