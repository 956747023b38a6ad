"""The benchmark's pure logic: reading wrk, medians, ratios, targets and the tables. No Docker, no network.

    .venv/bin/python -m pytest bench/test_bench_logic.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import Address, Load, LoadError, failure, parse_wrk_output, wrk_command  # noqa: E402
from plan import FULL, JSON, PLANS, SMOKE, ImagePlan, Server, cells  # noqa: E402
from report import (  # noqa: E402
    RunInfo, format_mb, format_ratio, format_rps, format_spread, image_table, markdown_table, render_markdown,
    targets_table,
)
from results import (  # noqa: E402
    COLD_START, MEMORY, CaseRun, Target, all_targets, cold_start_target, median, median_of, ratios_to_best,
    round_ratios, size_target, throughput_targets,
)
from runner import memory_in_use  # noqa: E402

WRK_OUTPUT = """Running 5s test @ http://127.0.0.1:40000/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.95ms    1.02ms  22.77ms   92.02%
    Req/Sec    10.77k   475.27    11.32k    90.00%
  53599 requests in 5.00s, 8.28MB read
Requests/sec:  10710.43
Transfer/sec:      1.65MB
BENCH_RESULT {"requests": 53600, "duration_us": 5000000, "connect_errors": 0, "read_errors": 2, \
"write_errors": 1, "status_errors": 0, "timeouts": 3, "latency_p50_us": 5830, "latency_p99_us": 9720}
"""

PLAN = ImagePlan("demo", "Demo", (
    Server("default", "ours", None, {"WEB_CONCURRENCY": "2"}),
    Server("bare", "bare server", ("serve",)),
    Server("other", "another server", ("other",)),
), bare="bare")


def load(requests_per_s: float) -> Load:
    return Load(requests=int(requests_per_s * 5), duration_s=5.0, requests_per_s=requests_per_s,
                latency_p50_ms=1.0, latency_p99_ms=2.0, socket_errors=0, status_errors=0)


def case(server: str, round_no: int, rps: float | None, cold: float | None = 1.0, memory: int | None = 2**20,
         image: str = "demo") -> CaseRun:
    return CaseRun(image, server, round_no, cold, memory, {"hello c64": load(rps)} if rps is not None else {})


# wrk -------------------------------------------------------------------------------------------------------

def test_wrk_result_line_is_read_into_rates_latencies_and_errors() -> None:
    result = parse_wrk_output(WRK_OUTPUT)
    assert result.requests == 53600
    assert result.requests_per_s == pytest.approx(10720.0)
    assert (result.latency_p50_ms, result.latency_p99_ms) == (5.83, 9.72)
    assert result.socket_errors == 6, "connect + read + write + timeouts"
    assert result.status_errors == 0


def test_wrk_output_without_a_result_line_is_an_error_that_shows_the_output() -> None:
    with pytest.raises(LoadError, match="unable to connect"):
        parse_wrk_output("unable to connect to 127.0.0.1:1 Connection refused")


@pytest.mark.parametrize(("requests", "socket_errors", "status_errors", "expected"), [
    (1000, 0, 0, None),
    (1000, 10, 0, None),  # a few dropped keep-alive connections do not mean the server is down
    (0, 0, 0, "no request was answered"),
    (1000, 0, 5, "5 responses had an error status"),
    (100, 500, 0, "500 socket errors for 100 requests"),
])
def test_a_run_fails_only_when_the_server_did_not_really_answer(requests: int, socket_errors: int,
                                                                  status_errors: int, expected: str | None) -> None:
    run = Load(requests, 5.0, requests / 5, 1.0, 2.0, socket_errors, status_errors)
    assert failure(run) == expected


def test_wrk_targets_loopback_only_and_is_bounded_in_time() -> None:
    command = wrk_command(Address(40000), "/json", 64, 5, 1)
    assert command[0] == "wrk" and command[-1] == "http://127.0.0.1:40000/json"
    assert "--duration=5s" in command and "--connections=64" in command and "--threads=1" in command


def test_wrk_in_a_network_namespace_targets_that_namespace_loopback() -> None:
    command = wrk_command(Address(80, netns_pid=4242), "/", 256, 2, 1)
    assert command[:4] == ["nsenter", "--target=4242", "--net", "wrk"]
    assert command[-1] == "http://127.0.0.1:80/"


# medians, ratios, targets -------------------------------------------------------------------------------------

def test_median_of_odd_and_even_counts() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 2.0, 3.0]) == 2.5
    with pytest.raises(ValueError):
        median([])


def test_ratios_to_best_for_throughput_divide_by_the_highest() -> None:
    assert ratios_to_best({"a": 100.0, "b": 50.0, "c": None}, higher_is_better=True) == {"a": 1.0, "b": 0.5, "c": None}


def test_ratios_to_best_for_times_divide_by_the_lowest() -> None:
    assert ratios_to_best({"a": 2.0, "b": 1.0}, higher_is_better=False) == {"a": 2.0, "b": 1.0}


def test_ratios_to_best_with_nothing_measured_are_all_missing() -> None:
    assert ratios_to_best({"a": None}, higher_is_better=True) == {"a": None}


def test_medians_skip_failed_rounds_and_keep_round_order() -> None:
    runs = [case("bare", 2, 300.0), case("bare", 1, 100.0), case("bare", 3, None), case("other", 1, 999.0)]
    assert median_of(runs, "demo", "bare", "hello c64") == 200.0
    assert median_of(runs, "demo", "bare", COLD_START) == 1.0
    assert median_of(runs, "demo", "bare", MEMORY) == 2**20
    assert median_of(runs, "demo", "nobody", "hello c64") is None


def test_round_ratios_pair_the_servers_round_by_round() -> None:
    runs = [case("default", 1, 90.0), case("bare", 1, 100.0), case("default", 2, 120.0), case("bare", 2, 100.0),
            case("default", 3, 50.0)]  # round 3 has no bare run: left out
    assert round_ratios(runs, "demo", "default", "bare", "hello c64") == [0.9, 1.2]


def test_throughput_target_compares_medians_of_default_and_bare() -> None:
    runs = [case("default", r, rps) for r, rps in ((1, 96.0), (2, 97.0), (3, 90.0))]
    runs += [case("bare", r, 100.0) for r in (1, 2, 3)]
    [target] = throughput_targets(runs, PLAN, ["hello c64"])
    assert target.ratio == pytest.approx(0.96)
    assert target.met is True
    assert target.spread == pytest.approx((0.96, 0.97, 0.90))
    assert "bare server" in target.what


def test_throughput_target_missed_below_095() -> None:
    runs = [case("default", 1, 94.0), case("bare", 1, 100.0)]
    [target] = throughput_targets(runs, PLAN, ["hello c64"])
    assert target.met is False
    assert target.margin == pytest.approx(-0.0105, abs=1e-4)


def test_cold_start_target_is_an_upper_limit() -> None:
    runs = [case("default", 1, 1.0, cold=1.2), case("bare", 1, 1.0, cold=1.0)]
    assert cold_start_target(runs, PLAN).met is True
    runs = [case("default", 1, 1.0, cold=1.3), case("bare", 1, 1.0, cold=1.0)]
    assert cold_start_target(runs, PLAN).met is False


def test_size_target_and_unmeasured_targets() -> None:
    assert size_target("demo", 110, 100).met is True
    assert size_target("demo", 111, 100).met is False
    assert size_target("demo", None, 100).met is None


def test_all_targets_cover_every_cell_cold_start_and_size_including_size_only_images() -> None:
    runs = [case("default", 1, 100.0), case("bare", 1, 100.0)]
    targets = all_targets(runs, [PLAN], ["hello c64"], {"demo": (100, 100), "base": (50, 60)})
    assert [(t.image, t.what.split(" vs ")[0]) for t in targets] == [
        ("demo", "throughput hello c64"), ("demo", "cold start"), ("demo", "image size"), ("base", "image size")]


# what is measured ------------------------------------------------------------------------------------------

def test_every_image_compares_its_default_with_the_bare_server_it_wraps() -> None:
    for plan in PLANS:
        assert plan.default.command is None, "the default is the image's own CMD"
        assert plan.default.env == {"WEB_CONCURRENCY": "2", "ACCESS_LOG": ""}
        assert plan.server(plan.bare).command, "the bare server is a plain command"
        assert len({server.key for server in plan.servers}) == len(plan.servers)
    flask = next(plan for plan in PLANS if plan.image == "flask")
    assert "meinheld.gmeinheld.MeinheldWorker" in flask.server(flask.bare).command


def test_smoke_is_short_and_full_has_at_least_three_rounds_and_two_concurrencies() -> None:
    assert FULL.rounds >= 3 and len(FULL.concurrencies) == 2
    assert SMOKE.rounds == 1 and SMOKE.duration_s <= 3
    assert cells(SMOKE) == ["hello c64", "json c64"]


def test_json_endpoint_compares_data_not_spacing() -> None:
    assert JSON.accepts('{"message":"Hello, World!"}\n')
    assert not JSON.accepts('{"message": "Hello"}')
    assert not JSON.accepts("<html>")


def test_memory_is_what_docker_stats_shows_for_cgroup_v1_and_v2() -> None:
    assert memory_in_use({"memory_stats": {"usage": 100, "stats": {"total_inactive_file": 30}}}) == 70
    assert memory_in_use({"memory_stats": {"usage": 100, "stats": {"inactive_file": 40}}}) == 60
    assert memory_in_use({"memory_stats": {}}) is None


# tables ----------------------------------------------------------------------------------------------------

def test_number_formats() -> None:
    assert format_rps(10710.43) == "10,710"
    assert format_ratio(0.9549) == "0.95×"
    assert format_ratio(None) == "–"
    assert format_mb(241_000_000) == "241 MB"
    assert format_spread([0.97, 1.01, 0.99]) == "0.97–1.01×"
    assert format_spread([1.0]) == "–"


def test_markdown_table_right_aligns_number_columns() -> None:
    assert markdown_table(["a", "b"], [["x", "1"]]) == ["| a | b |", "|---|---:|", "| x | 1 |"]


def test_image_table_shows_each_value_with_its_ratio_to_the_best_and_bolds_our_default() -> None:
    runs = [case("default", 1, 95.0, cold=1.1, memory=30 * 2**20), case("bare", 1, 100.0, cold=1.0, memory=20 * 2**20)]
    lines = image_table(runs, PLAN, ["hello c64"])
    assert lines[0] == "| server | hello c64 (req/s) | cold start | idle memory |"
    assert lines[2] == "| **ours** | 95 (0.95×) | 1.10 s (1.10×) | 30.0 MiB (1.50×) |"
    assert lines[3] == "| bare server | 100 (1.00×) | 1.00 s (1.00×) | 20.0 MiB (1.00×) |"
    assert lines[4] == "| another server | failed | failed | failed |"


def test_targets_table_flags_pass_and_miss() -> None:
    lines = targets_table([Target("demo", "throughput", 0.97, 0.95, True, (0.96, 0.98)),
                           Target("demo", "cold start", 1.3, 1.2, False)])
    assert lines[2] == "| demo | throughput | 0.97× | 0.96–0.98× | ≥ 0.95× | pass |"
    assert lines[3] == "| demo | cold start | 1.30× | – | ≤ 1.20× | **MISS** |"


def test_report_names_date_machine_targets_and_failures() -> None:
    info = RunInfo("2026-11-21 13:00 UTC", 2, "Intel(R) Xeon(R) Processor", "6.1", "20.10", "wrk 4.1.0", "abc123",
                   "3.11", 19.0, "netns", 0.1)
    runs = [case("default", 1, 100.0), case("bare", 1, 100.0),
            CaseRun("demo", "other", 1, failure="no 200 on / within 60s\nlog line")]
    targets = all_targets(runs, [PLAN], ["hello c64"], {"demo": (100, 100)})
    text = render_markdown(info, FULL, [PLAN], ["hello c64"], runs, {"demo": (100, 100)}, targets)
    assert "2026-11-21 13:00 UTC on 2 × Intel(R) Xeon(R) Processor" in text
    assert "**3 of 3 targets met.**" in text
    assert "- demo / other / round 1: no 200 on / within 60s" in text
    assert "`WEB_CONCURRENCY='2' /start.sh`" in text
