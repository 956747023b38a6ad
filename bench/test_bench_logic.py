"""The benchmark's pure logic: reading wrk, the host's CPU and memory figures, paired ratios, verdicts and the
tables. No Docker, no network.

    .venv/bin/python -m pytest bench/test_bench_logic.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from host import (  # noqa: E402
    CpuSnapshot, assign_roles, cgroup_cpu_seconds, container_cpu_files, container_cpu_seconds, host_busy_seconds,
    is_proxy_for, outside_cores, parent_pid, process_cpu_seconds, pss_bytes,
)
from load import Address, Load, LoadError, failure, parse_wrk_output, wrk_command  # noqa: E402
from plan import (  # noqa: E402
    BARE_USER, DEFAULT_PYTHON, FULL, JSON, NEWEST_PYTHON, PLANS, SMOKE, ImagePlan, Server, cells, project,
    server_order,
)
from report import (  # noqa: E402
    RunInfo, format_mb, format_ratio, format_rps, format_verdict, image_table, markdown_table, own_comparisons,
    render_markdown, targets_table,
)
from results import (  # noqa: E402
    COLD_START, DOCKER_STATS, MEMORY, MISS, NOT_MEASURED, PASS, TIE, CaseRun, Target, against_best_other,
    all_targets, dropped_count, image_targets, is_dropped, median, median_of, pair_ratios, quartiles,
    ratios_to_best, size_target,
)
from runner import memory_in_use, pids_from_top  # noqa: E402

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
    Server("default", "ours", None, {"WEB_CONCURRENCY": "2"}, ours=True),
    Server("preload", "ours preloaded", None, {"WEB_CONCURRENCY": "2", "PRELOAD": "1"}, ours=True, throughput=False),
    Server("bare", "bare server", ("serve",)),
    Server("other", "another server", ("other",)),
), bare="bare")


def load(requests_per_s: float) -> Load:
    return Load(requests=int(requests_per_s * 5), duration_s=5.0, requests_per_s=requests_per_s,
                latency_p50_ms=1.0, latency_p99_ms=2.0, socket_errors=0, status_errors=0)


def case(server: str, round_no: int, rps: float | None, cold: float | None = 1.0, memory: int | None = 2**20,
         image: str = "demo", python: str = "3.11", dropped: bool = False) -> CaseRun:
    return CaseRun(image, server, round_no, python, cold, memory,
                   loads={"hello c64": load(rps)} if rps is not None else {},
                   dropped=["hello c64"] if dropped else [])


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


# the CPU used outside the benchmark --------------------------------------------------------------------------

PROC_STAT = """cpu  1000 20 300 5000 40 5 6 7 100 0
cpu0 500 10 150 2500 20 2 3 3 50 0
cpu1 500 10 150 2500 20 3 3 4 50 0
intr 123456
ctxt 789
"""


def test_host_busy_time_is_user_nice_system_irq_softirq_steal_of_all_cpus() -> None:
    # 1000 + 20 + 300 + 5 + 6 + 7 ticks; idle, iowait and guest (already inside user) are not busy
    assert host_busy_seconds(PROC_STAT, ticks_per_second=100) == pytest.approx(13.38)


def test_host_busy_time_needs_the_aggregate_cpu_line() -> None:
    with pytest.raises(ValueError):
        host_busy_seconds("cpu0 1 2 3 4\n", 100)


def test_container_cpu_time_from_cgroup_v1_nanoseconds_and_v2_microseconds() -> None:
    assert cgroup_cpu_seconds(Path("cpuacct.usage"), "2500000000\n") == 2.5
    assert cgroup_cpu_seconds(Path("cpu.stat"), "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n") == 1.5


def test_container_cpu_is_read_where_the_cgroup_driver_put_it_or_unknown(tmp_path: Path) -> None:
    container = "ab" * 32
    v1 = tmp_path / "v1"
    (v1 / "cpuacct" / "docker" / container).mkdir(parents=True)
    (v1 / "cpuacct" / "docker" / container / "cpuacct.usage").write_text("3000000000\n")
    assert container_cpu_seconds(container, v1) == 3.0
    v2_systemd = tmp_path / "v2"
    (v2_systemd / "system.slice" / f"docker-{container}.scope").mkdir(parents=True)
    (v2_systemd / "system.slice" / f"docker-{container}.scope" / "cpu.stat").write_text("usage_usec 250000\n")
    assert container_cpu_seconds(container, v2_systemd) == 0.25
    assert tmp_path / "x" / "docker" / container / "cpu.stat" in container_cpu_files(container, tmp_path / "x")
    assert container_cpu_seconds(container, tmp_path / "nothing") is None


def test_outside_cpu_is_host_busy_minus_container_wrk_and_proxy_per_second() -> None:
    before = CpuSnapshot(at_s=100.0, host_busy_s=50.0, container_s=10.0, children_s=1.0, proxy_s=0.0)
    after = CpuSnapshot(at_s=102.0, host_busy_s=54.0, container_s=12.8, children_s=1.7, proxy_s=0.1)
    # 4.0 s busy - 2.8 s server - 0.7 s wrk - 0.1 s proxy = 0.4 s over 2 s
    assert outside_cores(before, after) == pytest.approx(0.2)


def test_outside_cpu_is_unknown_when_the_container_was_not_readable() -> None:
    before = CpuSnapshot(100.0, 50.0, None, 1.0, 0.0)
    after = CpuSnapshot(102.0, 54.0, None, 1.7, 0.0)
    assert outside_cores(before, after) is None


def test_a_run_is_dropped_only_above_the_limit_and_kept_when_unknown() -> None:
    assert is_dropped(0.16, 0.15)
    assert not is_dropped(0.15, 0.15)
    assert not is_dropped(-0.01, 0.15), "counting noise can go below zero"
    assert not is_dropped(None, 0.15)


def test_a_process_cpu_time_and_parent_come_from_its_stat_line_even_with_spaces_in_the_name() -> None:
    stat = "4242 (docker proxy) S 17 4242 17 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 5 0 1234 0 0"
    assert process_cpu_seconds(stat, ticks_per_second=100) == 3.0
    assert parent_pid(stat) == 17


def test_docker_proxy_is_recognised_by_its_host_port() -> None:
    cmdline = b"/usr/bin/docker-proxy\0-proto\0tcp\0-host-ip\0127.0.0.1\0-host-port\x0040123\0-container-port\x0080\0"
    assert is_proxy_for(cmdline, 40123)
    assert not is_proxy_for(cmdline, 80), "the container port is not the host port"
    assert not is_proxy_for(b"wrk\0-host-port\x0040123\0", 40123)


# memory ----------------------------------------------------------------------------------------------------

SMAPS_ROLLUP = """55d0c8a4a000-7ffd1b7f6000 ---p 00000000 00:00 0                          [rollup]
Rss:               30312 kB
Pss:               12204 kB
Pss_Anon:           9000 kB
Pss_File:           3204 kB
Pss_Shmem:             0 kB
Shared_Clean:      18000 kB
Private_Dirty:      9000 kB
Swap:                  0 kB
"""


def test_pss_is_the_pss_line_of_smaps_rollup_in_bytes() -> None:
    assert pss_bytes(SMAPS_ROLLUP) == 12204 * 1024


def test_smaps_rollup_without_pss_is_an_error() -> None:
    with pytest.raises(ValueError):
        pss_bytes("Rss: 10 kB\n")


def test_the_master_is_the_process_with_most_children_and_its_children_are_workers() -> None:
    processes = assign_roles([
        (300, 200, "python -c from multiprocessing.spawn import spawn_main", 20),
        (100, 1, "tini", 1),
        (200, 100, "uvicorn --workers 2 main:app", 30),
        (301, 200, "python -c from multiprocessing.spawn import spawn_main", 21),
        (302, 200, "python -c from multiprocessing.resource_tracker import main", 5),
    ])
    assert [(process.pid, process.role) for process in processes] == [
        (100, "other"), (200, "master"), (300, "worker"), (301, "worker"), (302, "other")]


def test_container_pids_are_read_from_docker_top() -> None:
    assert pids_from_top({"Titles": ["PID"], "Processes": [["4242"], ["4250"]]}) == [4242, 4250]
    with pytest.raises(ValueError):
        pids_from_top({"Titles": ["CMD"], "Processes": [["gunicorn"]]})


def test_memory_is_what_docker_stats_shows_for_cgroup_v1_and_v2() -> None:
    assert memory_in_use({"memory_stats": {"usage": 100, "stats": {"total_inactive_file": 30}}}) == 70
    assert memory_in_use({"memory_stats": {"usage": 100, "stats": {"inactive_file": 40}}}) == 60
    assert memory_in_use({"memory_stats": {}}) is None


# pairs, quartiles, verdicts ----------------------------------------------------------------------------------

def test_median_of_odd_and_even_counts() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 2.0, 3.0]) == 2.5
    with pytest.raises(ValueError):
        median([])


def test_quartiles_interpolate_between_values_and_one_value_is_both() -> None:
    assert quartiles([1.0, 2.0, 3.0, 4.0, 5.0]) == (2.0, 4.0)
    assert quartiles([1.0, 2.0, 3.0, 4.0]) == pytest.approx((1.75, 3.25))
    assert quartiles([0.9]) == (0.9, 0.9)


def test_ratios_to_best_for_throughput_divide_by_the_highest() -> None:
    assert ratios_to_best({"a": 100.0, "b": 50.0, "c": None}, higher_is_better=True) == {"a": 1.0, "b": 0.5, "c": None}


def test_ratios_to_best_for_times_divide_by_the_lowest() -> None:
    assert ratios_to_best({"a": 2.0, "b": 1.0}, higher_is_better=False) == {"a": 2.0, "b": 1.0}


def test_medians_skip_failed_and_dropped_runs() -> None:
    runs = [case("bare", 2, 300.0), case("bare", 1, 100.0), case("bare", 3, None), case("bare", 4, 999.0, dropped=True)]
    assert median_of(runs, "demo", "bare", "hello c64") == 200.0
    assert median_of(runs, "demo", "bare", COLD_START) == 1.0
    assert median_of(runs, "demo", "bare", MEMORY) == 2**20
    assert median_of(runs, "demo", "nobody", "hello c64") is None


def test_a_dropped_run_takes_its_pair_out_and_leaves_the_other_rounds_paired() -> None:
    runs = [case("default", 1, 90.0), case("bare", 1, 100.0),
            case("default", 2, 120.0), case("bare", 2, 100.0),
            case("default", 3, 50.0, dropped=True), case("bare", 3, 100.0),  # ours dropped: no pair
            case("default", 4, 99.0), case("bare", 4, 10.0, dropped=True),  # theirs dropped: no pair
            case("default", 5, 110.0)]  # round 5 has no bare run: no pair
    assert pair_ratios(runs, "demo", "default", "bare", "hello c64") == pytest.approx([0.9, 1.2])
    assert dropped_count(runs) == (2, 9)
    assert dropped_count(runs, "elsewhere") == (0, 0)


@pytest.mark.parametrize(("ratios", "verdict"), [
    ((0.96, 0.97, 0.98, 1.00, 1.02), PASS),  # the whole IQR (0.97-1.00) at or above 0.95
    ((0.95, 0.95, 0.95), PASS),  # on the limit is on the right side
    ((0.90, 0.93, 0.96, 0.99, 1.00), TIE),  # IQR 0.93-0.99 straddles 0.95
    ((0.80, 0.85, 0.90, 0.94, 0.97), MISS),  # IQR 0.85-0.94 all below
    ((), NOT_MEASURED),
])
def test_throughput_verdict_needs_the_whole_interquartile_range_above_the_limit(ratios: tuple[float, ...],
                                                                               verdict: str) -> None:
    target = Target("demo", "throughput hello c64", "bare server", ratios, 0.95, at_least=True)
    assert target.verdict == verdict
    assert target.met == {PASS: True, MISS: False}.get(verdict)


@pytest.mark.parametrize(("ratios", "verdict"), [
    ((1.00, 1.02, 1.05, 1.08, 1.20), PASS),  # IQR 1.02-1.08 at or below 1.10
    ((1.00, 1.05, 1.09, 1.12, 1.30), TIE),  # IQR 1.05-1.12 straddles 1.10
    ((1.05, 1.12, 1.15, 1.20, 1.25), MISS),  # IQR 1.12-1.20 all above
])
def test_cold_start_verdict_needs_the_whole_interquartile_range_below_the_limit(ratios: tuple[float, ...],
                                                                               verdict: str) -> None:
    assert Target("demo", "cold start", "bare server", ratios, 1.10, at_least=False).verdict == verdict


def test_fewer_pairs_than_asked_keep_their_verdict_but_are_flagged() -> None:
    target = Target("demo", "throughput hello c64", "bare server", (1.0, 1.1), 0.95, True, min_pairs=10)
    assert target.verdict == PASS and target.too_few_pairs
    assert format_verdict(target) == "pass (n < 10)"
    assert not Target("demo", "size", "minimal", (1.0,), 1.1, False, min_pairs=1).too_few_pairs


def test_throughput_is_judged_against_the_competitor_our_median_ratio_is_lowest_to() -> None:
    runs = []
    for round_no in range(1, 6):
        runs += [case("default", round_no, 100.0), case("bare", round_no, 95.0),
                 case("other", round_no, 104.0 + round_no)]  # the fastest other: ratios 0.95-0.91
    versus, ratios = against_best_other(runs, PLAN, "hello c64", at_least=True)
    assert versus == "another server"
    assert ratios == pytest.approx([100 / 105, 100 / 106, 100 / 107, 100 / 108, 100 / 109])


def test_cold_start_and_memory_are_judged_against_the_competitor_our_median_ratio_is_highest_to() -> None:
    runs = [case("default", 1, 1.0, cold=1.0, memory=100), case("bare", 1, 1.0, cold=0.8, memory=90),
            case("other", 1, 1.0, cold=0.9, memory=50),
            case("default", 2, 1.0, cold=1.1, memory=100), case("bare", 2, 1.0, cold=0.9, memory=95),
            case("other", 2, 1.0, cold=1.0, memory=60)]
    targets = {target.what: target for target in image_targets(runs, PLAN, ["hello c64"], min_pairs=2)}
    assert targets["cold start"].versus == "bare server"
    assert targets["cold start"].ratio == pytest.approx((1.0 / 0.8 + 1.1 / 0.9) / 2)
    assert targets["cold start"].verdict == MISS
    assert targets["idle memory (PSS)"].versus == "another server"
    assert targets["idle memory (PSS)"].limit == 1.2
    assert targets["throughput hello c64"].verdict == PASS  # every server at 1.0 req/s: ratio 1.00


def test_a_variant_of_ours_is_judged_on_memory_and_is_never_the_competitor() -> None:
    runs = [case("default", 1, 100.0, memory=100), case("preload", 1, None, memory=70),
            case("bare", 1, 100.0, memory=90), case("other", 1, 100.0, memory=60)]
    targets = {target.what: target for target in image_targets(runs, PLAN, ["hello c64"])}
    assert targets["idle memory (PSS)"].ratios == pytest.approx((100 / 60,)), "preload's 70 is not a competitor"
    assert targets["idle memory (PSS), PRELOAD=1"].versus == "another server"
    assert targets["idle memory (PSS), PRELOAD=1"].ratios == pytest.approx((70 / 60,))
    assert targets["idle memory (PSS), PRELOAD=1"].verdict == PASS
    assert [target.what for target in image_targets(runs, PLAN, ["hello c64"])][-1] == "idle memory (PSS), PRELOAD=1"


def test_a_target_with_no_competitor_measured_is_not_measured() -> None:
    runs = [case("default", 1, 100.0), case("bare", 1, None), case("other", 1, 100.0, dropped=True)]
    [throughput, *_] = image_targets(runs, PLAN, ["hello c64"])
    assert throughput.versus is None and throughput.verdict == NOT_MEASURED and throughput.met is None


def test_size_target_is_one_ratio_to_the_minimal_image() -> None:
    assert size_target("demo", 110, 100).verdict == PASS
    assert size_target("demo", 111, 100).verdict == MISS
    assert size_target("demo", None, 100).verdict == NOT_MEASURED


def test_all_targets_of_one_python_cover_every_cell_cold_start_memory_and_size() -> None:
    runs = [case("default", 1, 100.0), case("bare", 1, 100.0), case("default", 1, 1.0, python="3.15")]
    targets = all_targets(runs, [PLAN], ["hello c64"], {"demo": (100, 100), "base": (50, 60)}, "3.11")
    assert [(t.image, t.what) for t in targets] == [
        ("demo", "throughput hello c64"), ("demo", "cold start"), ("demo", "idle memory (PSS)"),
        ("demo", "idle memory (PSS), PRELOAD=1"), ("demo", "image size"), ("base", "image size")]
    assert targets[0].ratios == (1.0,), "the other Python's run is not paired with this one's"


# what is measured ------------------------------------------------------------------------------------------

def test_servers_alternate_who_goes_first_from_round_to_round() -> None:
    servers = PLAN.servers
    assert server_order(servers, 1) == list(servers)
    assert server_order(servers, 2) == list(reversed(servers))
    assert server_order(servers, 3) == list(servers)
    firsts = [server_order(servers, round_no).index(servers[0]) < server_order(servers, round_no).index(servers[1])
              for round_no in range(1, 11)]
    assert firsts.count(True) == firsts.count(False) == 5, "in 10 rounds each of a pair goes first 5 times"


def test_every_image_compares_its_default_with_the_bare_server_it_wraps() -> None:
    for plan in PLANS:
        assert plan.default.command is None, "the default is the image's own CMD"
        assert plan.default.env == {"WEB_CONCURRENCY": "2", "ACCESS_LOG": ""}
        [preload] = plan.variants
        assert preload.command is None and not preload.throughput and plan.setting_of(preload) == "PRELOAD=1"
        assert plan.default not in plan.others and preload not in plan.others
        before = plan.server("no-preload-modules")  # the default before PRELOAD_MODULES: shown, not judged
        assert before.ours and not before.judged and not before.throughput and before not in plan.variants
        assert plan.setting_of(before) == "PRELOAD_MODULES="
        assert plan.server(plan.bare).command, "the bare server is a plain command"
        assert len({server.key for server in plan.servers}) == len(plan.servers)
    flask = next(plan for plan in PLANS if plan.image == "flask")
    assert "meinheld.gmeinheld.MeinheldWorker" in (flask.server(flask.bare).command or ())
    assert "gunicorn-gthread" not in {server.key for server in flask.servers}, "org/base's default, no contender"


def test_the_other_servers_serve_as_the_account_our_workers_use() -> None:
    for plan in PLANS:
        assert all(server.user is None for server in plan.servers if server.ours), "ours: the image's own start"
        assert {server.user for server in plan.others} == {BARE_USER}
        assert all(server.shown_command.startswith(f"--user {BARE_USER} ") for server in plan.others)


def test_full_run_gives_ten_pairs_on_the_default_and_newest_python_and_smoke_stays_quick() -> None:
    assert FULL.rounds >= 10 and FULL.min_pairs == 10 and len(FULL.concurrencies) == 2
    assert FULL.duration_s == 2 and FULL.settle_s == 1.0 and FULL.outside_cpu_limit == 0.15
    assert FULL.pythons == (project.DEFAULT_PYTHON, NEWEST_PYTHON)
    assert NEWEST_PYTHON == max(project.PYTHONS, key=lambda python: tuple(map(int, python.split("."))))
    assert SMOKE.rounds == 1 and SMOKE.duration_s <= 3 and SMOKE.pythons == (DEFAULT_PYTHON,)
    assert SMOKE.min_pairs <= SMOKE.rounds, "a smoke run must not be held to the ten pairs"
    assert cells(SMOKE) == ["hello c64", "json c64"]


def test_full_run_is_estimated_at_about_an_hour() -> None:
    from bench import estimate_minutes

    assert 55 <= estimate_minutes(list(PLANS), FULL) <= 65


def test_json_endpoint_compares_data_not_spacing() -> None:
    assert JSON.accepts('{"message":"Hello, World!"}\n')
    assert not JSON.accepts('{"message": "Hello"}')
    assert not JSON.accepts("<html>")


# tables ----------------------------------------------------------------------------------------------------

def test_number_formats() -> None:
    assert format_rps(10710.43) == "10,710"
    assert format_ratio(0.9549) == "0.95×"
    assert format_ratio(None) == "–"
    assert format_mb(241_000_000) == "241 MB"


def test_markdown_table_right_aligns_number_columns() -> None:
    assert markdown_table(["a", "b"], [["x", "1"]]) == ["| a | b |", "|---|---:|", "| x | 1 |"]


def test_image_table_shows_each_value_with_its_ratio_to_the_best_and_bolds_our_default() -> None:
    runs = [case("default", 1, 95.0, cold=1.1, memory=30 * 2**20), case("bare", 1, 100.0, cold=1.0, memory=20 * 2**20),
            case("other", 1, 80.0, dropped=True, memory=None)]
    runs[1].memory_source = DOCKER_STATS
    lines = image_table(runs, PLAN, ["hello c64"])
    assert lines[0] == "| server | hello c64 (req/s) | cold start | idle memory (PSS) |"
    assert lines[2] == "| **ours** | 95 (0.95×) | 1.10 s (1.10×) | 30.0 MiB (1.50×) |"
    assert lines[3] == "| ours preloaded | – | failed | failed |"
    assert lines[4] == "| bare server | 100 (1.00×) | 1.00 s (1.00×) | 20.0 MiB (1.00×) † |"
    assert lines[5] == "| another server | dropped | 1.00 s (1.00×) | failed |"
    runs.append(case("preload", 1, None, cold=1.2, memory=25 * 2**20))
    assert "| ours preloaded | – | 1.20 s (1.20×) | 25.0 MiB (1.25×) |" in image_table(runs, PLAN, ["hello c64"])


def test_targets_table_shows_median_quartiles_pairs_and_verdicts() -> None:
    lines = targets_table([
        Target("demo", "throughput hello c64", "Granian", (0.96, 0.97, 0.98, 1.00, 1.02), 0.95, True),
        Target("demo", "cold start", "bare server", (1.00, 1.05, 1.09, 1.12, 1.30), 1.10, False),
        Target("demo", "idle memory (PSS)", "uWSGI", (1.3, 1.4, 1.5), 1.2, False),
        Target("demo", "image size", "minimal Dockerfile", (1.0,), 1.1, False)])
    assert lines[0] == "| image | target | against | median ratio | IQR (q25–q75) | n pairs | limit | verdict |"
    assert lines[2] == "| demo | throughput hello c64 | Granian | 0.98× | 0.97–1.00× | 5 | ≥ 0.95× | pass |"
    assert lines[3] == "| demo | cold start | bare server | 1.09× | 1.05–1.12× | 5 | ≤ 1.10× | tie |"
    assert lines[4] == "| demo | idle memory (PSS) | uWSGI | 1.40× | 1.35–1.45× | 3 | ≤ 1.20× | **MISS** |"
    assert lines[5] == "| demo | image size | minimal Dockerfile | 1.00× | – | 1 | ≤ 1.10× | pass |"


def test_report_describes_the_method_counts_verdicts_and_drops_per_python() -> None:
    info = RunInfo("2026-11-21 13:00 UTC", 2, "Intel(R) Xeon(R) Processor", "6.1", "20.10", "wrk 4.1.0", "abc123",
                   ("3.11", "3.15"), 60.0, "netns", 0.1)
    runs = [case("default", 1, 100.0), case("bare", 1, 100.0), case("other", 1, 50.0, dropped=True),
            CaseRun("demo", "other", 2, "3.11", failure="no 200 on / within 60s\nlog line"),
            case("default", 1, 100.0, python="3.15"), case("bare", 1, 100.0, python="3.15")]
    sizes = {"3.11": {"demo": (100, 100)}, "3.15": {"demo": (130, 100)}}
    targets = [target for python in ("3.11", "3.15")
               for target in all_targets(runs, [PLAN], ["hello c64"], sizes[python], python, FULL.min_pairs)]
    text = render_markdown(info, FULL, [PLAN], ["hello c64"], runs, sizes, targets)
    assert "2026-11-21 13:00 UTC on 2 × Intel(R) Xeon(R) Processor" in text
    assert "Python 3.11 and 3.15" in text
    assert "even rounds in reverse (C B A)" in text
    assert "above 0.15 cores is dropped" in text and "**1 of 5 runs were dropped**" in text
    assert "interquartile range (q25–q75)" in text and "PSS" in text
    assert "### Python 3.11" in text and "### Python 3.15" in text
    assert "demo 1 of 3; 1 of 3 in all." in text
    assert ("**4 pass, 0 tie, 0 miss**, 1 not measured (of 5 targets); 3 rest on fewer than 10 pairs and are not "
            "conclusive.") in text  # the PRELOAD=1 variant has no run here
    assert ("**3 pass, 0 tie, 1 miss**, 1 not measured (of 5 targets); 3 rest on fewer than 10 pairs and are not "
            "conclusive.") in text
    assert "All Pythons: **7 pass, 0 tie, 1 miss**, 2 not measured (of 10 targets)" in text
    assert "- demo / py3.11 / other / round 2: no 200 on / within 60s" in text
    assert "`WEB_CONCURRENCY='2' /start.sh`" in text


def test_a_configuration_shown_for_comparison_gets_paired_ratios_and_no_target() -> None:
    before = Server("before", "ours before", None, {"PRELOAD_MODULES": ""}, ours=True, throughput=False, judged=False)
    plan = ImagePlan("demo", "Demo", (*PLAN.servers, before), bare="bare")
    runs = [run for round_no in (1, 2, 3) for run in (
        case("default", round_no, 100.0, cold=0.8, memory=40 << 20), case("preload", round_no, None),
        case("before", round_no, None, cold=1.0, memory=50 << 20 if round_no < 3 else 80 << 20),
        case("bare", round_no, 100.0), case("other", round_no, 100.0))]
    assert own_comparisons(runs, plan) == [
        "", "Our default over ours before, median pair ratios: cold start 0.80× (IQR 0.80–0.80×, n 3), "
        "idle memory 0.80× (IQR 0.65–0.80×, n 3)."]
    assert [target.what for target in image_targets(runs, plan, ["hello c64"])][-1].endswith("PRELOAD=1")
