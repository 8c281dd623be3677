"""bench.compare judges a before/after pair by the medians of each side, in each figure's own direction."""

import json

import pytest

from bench import compare


def _results(tmp_path, name, **figures):
    path = tmp_path / f"{name}.json"
    scenarios = {}
    for key, value in figures.items():
        scenario, figure = key.split("__")
        scenarios.setdefault(scenario, {"figures": {}})["figures"][figure] = value
    path.write_text(json.dumps({"commit": name, "scenarios": scenarios}))
    return str(path)


def test_the_median_of_each_side_is_compared_in_the_figures_direction(tmp_path, capsys):
    before = [
        _results(tmp_path, f"b{i}", overhead__page_p95_ms=p95, throughput__results_rps=rps, audit_scale__events=5)
        for i, (p95, rps) in enumerate([(10.0, 100.0), (30.0, 100.0), (11.0, 100.0)])
    ]
    # The after side's one slow run is outvoted; its throughput falls by 5 %, its size doubles.
    after = [
        _results(tmp_path, f"a{i}", overhead__page_p95_ms=p95, throughput__results_rps=95.0, audit_scale__events=10)
        for i, p95 in enumerate([10.5, 11.5, 40.0])
    ]
    assert compare.main(["--before", *before, "--after", *after]) == 0
    out = capsys.readouterr().out
    assert "| overhead.page_p95_ms | 11 | 11.5 | +4.5 % |  |" in out
    assert "| throughput.results_rps | 100 | 95 | -5.0 % |  |" in out
    assert "| audit_scale.events | 5 | 10 | +100.0 % | size |" in out
    assert "Worse by more than 10 %: none" in out


def test_a_figure_worse_beyond_the_limit_fails_the_comparison(tmp_path, capsys):
    before = _results(tmp_path, "b", throughput__rps_ratio=0.5, overhead__median_ratio=2.0, fanout__first_byte_ms=6)
    after = _results(tmp_path, "a", throughput__rps_ratio=0.44, overhead__median_ratio=1.0)
    assert compare.main(["--before", before, "--after", after]) == 1
    out = capsys.readouterr().out
    assert "| throughput.rps_ratio | 0.5 | 0.44 | -12.0 % | WORSE |" in out
    assert "| overhead.median_ratio | 2 | 1 | -50.0 % |  |" in out  # lower is better: an improvement
    assert "Only one side has: fanout.first_byte_ms" in out
    assert compare.main(["--before", before, "--after", after, "--limit", "15"]) == 0


def test_a_figure_that_leaves_zero_is_judged_too(tmp_path, capsys):
    before = _results(tmp_path, "b", remediation__duplicates=0, throughput__results_rps=0)
    after = _results(tmp_path, "a", remediation__duplicates=2, throughput__results_rps=40.0)
    assert compare.main(["--before", before, "--after", after]) == 1
    out = capsys.readouterr().out
    assert "| remediation.duplicates | 0 | 2 | from 0 | WORSE |" in out
    assert "| throughput.results_rps | 0 | 40 | from 0 |  |" in out  # more is better: not worse


def test_paired_runs_are_judged_by_the_median_of_each_pairs_change(tmp_path, capsys):
    # Pairs made in turn, the machine slower for the second and faster for the third: within the
    # pairs the after run is 20 %, 5 % and 10 % slower; the median of those is the change shown.
    before = [_results(tmp_path, f"b{i}", overhead__page_p95_ms=p95) for i, p95 in enumerate([10.0, 20.0, 30.0])]
    after = [_results(tmp_path, f"a{i}", overhead__page_p95_ms=p95) for i, p95 in enumerate([12.0, 21.0, 33.0])]
    assert compare.main(["--paired", "--before", *before, "--after", *after]) == 0
    out = capsys.readouterr().out
    assert "| overhead.page_p95_ms | 20 | 21 | +10.0 % |  |" in out
    assert "the median of the changes within each pair" in out


def test_paired_runs_worse_in_most_pairs_fail_and_the_sides_must_match(tmp_path, capsys):
    before = [_results(tmp_path, f"b{i}", throughput__results_rps=100.0) for i in range(3)]
    after = [_results(tmp_path, f"a{i}", throughput__results_rps=rps) for i, rps in enumerate([85.0, 88.0, 120.0])]
    assert compare.main(["--paired", "--before", *before, "--after", *after]) == 1
    assert "| throughput.results_rps | 100 | 88 | -12.0 % | WORSE |" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        compare.main(["--paired", "--before", *before, "--after", *after[:2]])
