"""The scale bench runs end to end at a small size (what it measures is not asserted)."""

from __future__ import annotations

from pathlib import Path

from bench import reporting_scale


def test_the_scale_bench_runs_and_prints_its_table(tmp_path: Path) -> None:
    lines: list[str] = []

    code = reporting_scale.main(
        [
            "--tickets", "400",
            "--nats-events", "300",
            "--requests", "5",
            "--chunk", "150",
            "--workdir", str(tmp_path),
        ],
        out=lines.append,
    )  # fmt: skip

    text = "\n".join(lines)
    assert code == 0
    assert "summary" in text
    for dimension in reporting_scale.BREAKDOWNS:
        assert f"breakdown {dimension}" in text
    assert "raw JetStream pull + ack (baseline)" in text
    assert "reporting consumers (decode, inbox, fold, commit, ack)" in text
    assert "history folded: " in text
