"""The results file of the performance suite: runs add up per database kind, a later run
replaces only its own benchmark, and the hand-written reading below the marker survives."""

from __future__ import annotations

from pathlib import Path

from bench import profiling
from bench.perf_report import KEEP_MARKER, Result, Row, kept_tail, load_store, merge, render
from bench.suite import ORDER, PREAMBLE, by_name, write_results


def result(name: str, database: str = "sqlite", project: str = "p50 51 ms") -> Result:
    return Result(
        name=name,
        database=database,
        date="2026-12-02 06:00 UTC",
        command=f"python -m bench {name}",
        rows=(
            Row("time to first page", project, "p50 16 ms", "3.2x", "<= 1.3x", False),
            Row("  lost | twice", "0 / 0", "0 / 0", met=True),
        ),
        notes=("offered 4.0/s",),
        context={"machine": "2 CPUs"},
    )


def test_rendered_table_names_each_benchmark_once_and_escapes_pipes() -> None:
    text = render(merge({}, [result("first-page")]), PREAMBLE, ORDER)
    assert "## SQLite" in text
    assert "| first-page | time to first page | p50 51 ms | p50 16 ms | 3.2x | <= 1.3x |" in text
    assert "**missed**" in text
    assert "|  |   lost \\| twice | 0 / 0 | 0 / 0 | - |  | met |" in text
    assert "- first-page: offered 4.0/s" in text
    assert "- machine: 2 CPUs" in text
    assert text.count("first-page |") == 1


def test_sections_per_database_sqlite_first_and_benchmarks_in_suite_order() -> None:
    store = merge(
        {},
        [result("callbacks", "postgresql"), result("ingestion"), result("first-page")],
    )
    text = render(store, PREAMBLE, ORDER)
    assert text.index("## SQLite") < text.index("## PostgreSQL")
    assert text.index("| first-page |") < text.index("| ingestion |")


def test_a_later_run_replaces_only_its_own_benchmark_and_database() -> None:
    store = merge({}, [result("first-page", project="old"), result("ingestion")])
    store = merge(store, [result("first-page", project="new"), result("first-page", "postgresql")])
    assert set(store) == {"sqlite", "postgresql"}
    assert set(store["sqlite"]) == {"first-page", "ingestion"}
    assert Result.from_json(store["sqlite"]["first-page"]).rows[0].project == "new"


def test_results_file_round_trips_and_keeps_the_hand_written_tail(tmp_path: Path) -> None:
    store_path, output = tmp_path / "performance.json", tmp_path / "performance.md"
    write_results([result("first-page")], store_path, output)
    output.write_text(output.read_text() + "\n## Profile\n\nwritten by a person\n")
    write_results([result("ingestion")], store_path, output)
    text = output.read_text()
    assert "| first-page |" in text and "| ingestion |" in text
    assert text.count(KEEP_MARKER) == 1
    assert text.endswith("## Profile\n\nwritten by a person\n")
    assert kept_tail(output).strip().startswith("## Profile")
    assert set(load_store(store_path)["sqlite"]) == {"first-page", "ingestion"}


def test_suite_selection_defaults_and_refuses_unknown_names() -> None:
    names = [b.name for b in by_name([])]
    assert names == ["first-page", "ingestion", "sustained", "callbacks", "recovery", "memory"]
    assert [b.name for b in by_name(["chaos", "first-page"])] == ["first-page", "chaos"]
    try:
        by_name(["nope"])
    except ValueError as exc:
        assert "nope" in str(exc)
    else:
        raise AssertionError("an unknown benchmark must be refused")


COLLAPSED = "\n".join(
    [
        'process 1:"celery";apply_async (kombu/messaging.py:10);send (redis/client.py:5) 30',
        'process 1:"celery";dispatch_alert (worker/tasks/dispatch_alert.py:28);'
        "record_event (shared/core/events.py:40);execute (sqlalchemy/orm/session.py:9) 50",
        'process 2:"celery";dispatch_alert (worker/tasks/dispatch_alert.py:28);'
        "route_alert (shared/routing/route.py:120) 20",
        "garbage line",
    ]
)


def test_profile_shares_by_layer_project_function_and_self_time() -> None:
    stacks = profiling.parse_collapsed(COLLAPSED)
    assert profiling.total_samples(stacks) == 100
    layers = dict(profiling.by_layer(stacks))
    assert layers[profiling.LAYERS[0][0]] == 0.5  # the database, innermost, not the task
    assert layers[profiling.LAYERS[1][0]] == 0.3
    assert layers[profiling.PROJECT] == 0.2
    inclusive = dict(profiling.inclusive_project(stacks))
    assert inclusive["dispatch_alert (worker/tasks/dispatch_alert.py)"] == 0.7
    assert inclusive["record_event (shared/core/events.py)"] == 0.5
    assert profiling.self_time(stacks)[0] == ("execute (sqlalchemy/orm/session.py)", 0.5)
    summary = "\n".join(profiling.render("worker", stacks))
    assert "100 samples" in summary and "record_event (shared/core/events.py) 50%" in summary


def test_source_line_counts_uncommitted_files_instead_of_listing_them() -> None:
    from bench.suite import short_source

    assert short_source("0d30bc1") == "0d30bc1"
    state = "0d30bc1 plus uncommitted changes to README.md, cli/stack.py, worker/queues.py"
    assert short_source(state) == "0d30bc1 plus uncommitted changes to 3 files"


def test_each_run_is_listed_once_with_its_load_and_the_newest_context_shown() -> None:
    older = Result(
        "first-page",
        "sqlite",
        "2026-12-02 06:00 UTC",
        "python -m bench",
        (),
        context={"load average at start": "3.1", "source": "old"},
    )
    newer = Result(
        "ingestion",
        "sqlite",
        "2026-12-02 06:09 UTC",
        "python -m bench",
        (),
        context={"load average at start": "3.1", "source": "new"},
    )
    text = render(merge({}, [older, newer]), PREAMBLE, ORDER)
    assert text.count("- run 2026-12-02 06:00 UTC: `python -m bench` (load average 3.1)") == 1
    assert "06:09 UTC: `python" not in text
    assert "- source: new" in text and "- source: old" not in text
