#!/usr/bin/env python3
"""coverage_report.py SUMMARY.json MIN DIR... - per-file line and branch
coverage of each DIR (a top-level directory: lib, fs) from gcovr's JSON
summary, then each DIR's totals. Exits 1 when a DIR's line total is below
MIN percent, naming it."""
import json
import sys


def percent(covered, total):
    return 100.0 * covered / total if total else 100.0


def main():
    summary = json.load(open(sys.argv[1]))
    minimum = float(sys.argv[2])
    below = []
    for top in sys.argv[3:]:
        files = sorted((f for f in summary["files"]
                        if f["filename"].startswith(top + "/")),
                       key=lambda f: f["filename"])
        print(f"\n== {top}/: lines and branches run, per file")
        for f in files:
            print(f"{f['filename']:<34}"
                  f" lines {f['line_covered']:5} of {f['line_total']:5}"
                  f" {percent(f['line_covered'], f['line_total']):5.1f}%"
                  f"   branches {f['branch_covered']:5} of"
                  f" {f['branch_total']:5}"
                  f" {percent(f['branch_covered'], f['branch_total']):5.1f}%")
        lines = [sum(f[k] for f in files) for k in ("line_covered",
                                                     "line_total")]
        branches = [sum(f[k] for f in files) for k in ("branch_covered",
                                                        "branch_total")]
        print(f"{top}/ total: lines {percent(*lines):.1f}%"
              f" ({lines[0]} of {lines[1]}),"
              f" branches {percent(*branches):.1f}%"
              f" ({branches[0]} of {branches[1]})")
        if percent(*lines) < minimum:
            below.append(f"{top}/ {percent(*lines):.1f}%")
    if below:
        print(f"line coverage below {minimum:g}%: {', '.join(below)}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
