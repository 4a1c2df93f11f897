"""`python -m tools.trace <ticket_id>` prints that ticket's traces as timelines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tools.trace import main

T0 = 1_700_000_000_000_000_000
MS = 1_000_000
TRACE_A, TRACE_B = "a" * 32, "b" * 32


def span(
    trace_id: str,
    span_id: str,
    parent: str | None,
    name: str,
    service: str,
    start_ms: float,
    duration_ms: float,
    **attributes: str,
) -> dict[str, Any]:
    start = T0 + int(start_ms * MS)
    return {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent,
        "name": name,
        "service": service,
        "kind": "INTERNAL",
        "start": start,
        "end": start + int(duration_ms * MS),
        "duration_ms": duration_ms,
        "status": "UNSET",
        "attributes": attributes,
    }


def write_jsonl(path: Path, *records: dict[str, Any]) -> None:
    with path.open("a") as out:
        for record in records:
            out.write(json.dumps(record) + "\n")


@pytest.fixture
def traces_dir(tmp_path: Path) -> Path:
    # Written out of order, across two services, with one torn line.
    write_jsonl(
        tmp_path / "intake.jsonl",
        span(TRACE_A, "0000000000000003", "0000000000000002", "publish x", "intake", 30, 2),
        span(TRACE_A, "0000000000000001", None, "POST /tickets", "intake", 0, 20),
        span(TRACE_A, "0000000000000002", "0000000000000001", "INSERT", "intake", 5, 3),
        span(TRACE_B, "00000000000000b1", None, "POST /tickets", "intake", 100, 9),
    )
    with (tmp_path / "intake.jsonl").open("a") as out:
        out.write('{"trace_id": "cut sh')
    write_jsonl(
        tmp_path / "triage.jsonl",
        span(
            TRACE_A,
            "0000000000000004",
            "0000000000000003",
            "process x",
            "triage",
            41.5,
            12,
            **{"sanad.ticket_id": "T-1"},
        ),
    )
    return tmp_path


def test_prints_the_ticket_trace_as_an_indented_timeline(
    traces_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["T-1", "--traces-dir", str(traces_dir)])

    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[0].startswith(f"trace {TRACE_A}  4 spans, intake, triage, 53.50 ms")
    rows = [line.split() for line in out[2:]]
    assert rows == [
        ["0.00", "intake", "POST", "/tickets", "20.00"],
        ["5.00", "intake", "INSERT", "3.00"],
        ["30.00", "intake", "publish", "x", "2.00"],
        ["41.50", "triage", "process", "x", "12.00"],
    ]
    assert TRACE_B not in "\n".join(out)


def test_each_depth_is_indented_two_more_spaces(
    traces_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["T-1", "--traces-dir", str(traces_dir)])

    rows = capsys.readouterr().out.splitlines()[2:]
    column = rows[0].index("POST")
    indents = [len(row[column:]) - len(row[column:].lstrip()) for row in rows]
    assert indents == [0, 2, 4, 6]


def test_an_unknown_ticket_is_a_clear_failure(
    traces_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["T-404", "--traces-dir", str(traces_dir)])

    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == ""
    assert "no trace mentions ticket T-404" in captured.err


def test_a_missing_traces_dir_is_a_clear_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["T-1", "--traces-dir", str(tmp_path / "absent")]) == 1
    assert "no trace mentions ticket T-1" in capsys.readouterr().err
