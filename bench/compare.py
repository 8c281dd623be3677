"""Two sets of bench results side by side: the median of each figure over the runs of each set, the
change, and whether it is worse, in the direction that figure counts as worse.

    .venv/bin/python -m bench.compare --before A1.json A2.json --after B1.json B2.json [--limit 10]
    .venv/bin/python -m bench.compare --paired --before A1.json A2.json --after B1.json B2.json

Several runs a side, because single figures of this machine move by more than 10 % between runs of
the same commit (a p95 of a few milliseconds, a count of 429s). A figure only one side has is listed
apart. Exits 1 when a figure is worse by more than the limit, so a before/after claim is checked by
a script, not by eye.

--paired is for runs made in turns (A1, B1, A2, B2, ...), the n-th before next to the n-th after:
each figure's change is then the median of the n changes from A_n to B_n. A machine that is slower
one hour than the next (this one is: the same commit's pages differ by 20 % from one day to the
next) moves both runs of a pair, so little of it is left in the pair's change. The medians of each
side are still shown beside it.
"""

import argparse
import json
import statistics
import sys

# Figures where more is better; every other figure counts as worse when it grows.
HIGHER_IS_BETTER = ("_rps", "_per_s", "rps_ratio", "speedup_", "details_shown", "verify_over_bare_pass")
# Figures that describe the work or the run's size, not how well it went.
SIZE = {"events", "small_events", "export_rows", "bound_s", "calls", "calls_per_request", "calls_per_item"}


def figures(path):
    with open(path) as file:
        results = json.load(file)
    return {
        f"{scenario}.{name}": value
        for scenario, result in results["scenarios"].items()
        for name, value in (result.get("figures") or {}).items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def medians(paths):
    runs = [figures(path) for path in paths]
    names = set().union(*runs)
    return {name: statistics.median(run[name] for run in runs if name in run) for name in names}


def direction(name):
    short = name.split(".", 1)[1]
    if short in SIZE:
        return "size"
    return "higher" if any(mark in short for mark in HIGHER_IS_BETTER) else "lower"


def change_percent(old, new):
    # From 0 (no duplicates, no 429s) any change is infinitely many percent, in its own direction.
    return (new - old) / old * 100 if old else (new - old) * float("inf") if new != old else 0.0


def paired_changes(before_paths, after_paths):
    """Per figure, the median over pairs (the n-th before, the n-th after) of each pair's change."""
    changes = {}
    for old_run, new_run in zip(map(figures, before_paths), map(figures, after_paths), strict=True):
        for name in old_run.keys() & new_run.keys():
            changes.setdefault(name, []).append(change_percent(old_run[name], new_run[name]))
    return {name: statistics.median(values) for name, values in changes.items()}


def compare(before, after, limit, changes=None):
    """Rows of (figure, before, after, change %, verdict), and the figures only one side has.
    `changes` (paired_changes) replaces the change between the two medians."""
    rows, changes = [], changes or {}
    for name in sorted(set(before) & set(after)):
        old, new = before[name], after[name]
        change = changes.get(name, change_percent(old, new))
        way = direction(name)
        worse = change if way == "lower" else -change
        verdict = "size" if way == "size" else ("WORSE" if worse > limit else "")
        rows.append((name, old, new, change, verdict))
    only = sorted(set(before) ^ set(after))
    return rows, only


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", nargs="+", required=True)
    parser.add_argument("--after", nargs="+", required=True)
    parser.add_argument("--limit", type=float, default=10.0, help="percent a figure may be worse")
    parser.add_argument("--paired", action="store_true", help="the n-th runs of each side were made in turn")
    args = parser.parse_args(argv)
    if args.paired and len(args.before) != len(args.after):
        parser.error("--paired needs as many runs after as before, in the order they were made")
    changes = paired_changes(args.before, args.after) if args.paired else None
    rows, only = compare(medians(args.before), medians(args.after), args.limit, changes)
    print(f"Medians of {len(args.before)} run(s) before and {len(args.after)} after.")
    if args.paired:
        print("Change: the median of the changes within each pair of runs made in turn.")
    print()
    print("| figure | before | after | change | |")
    print("|---|---:|---:|---:|---|")
    for name, old, new, change, verdict in rows:
        shown = f"{change:+.1f} %" if abs(change) != float("inf") else "from 0"
        print(f"| {name} | {old:g} | {new:g} | {shown} | {verdict} |")
    if only:
        print(f"\nOnly one side has: {', '.join(only)}")
    worse = [row[0] for row in rows if row[4] == "WORSE"]
    print(f"\nWorse by more than {args.limit:g} %: {', '.join(worse) if worse else 'none'}")
    return 1 if worse else 0


if __name__ == "__main__":
    sys.exit(main())
