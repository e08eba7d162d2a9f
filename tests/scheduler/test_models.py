"""Models at the scheduler: a retired model refused at validate with its replacement, deprecations
warned with their date, thinking checked (translated or refused with field, line and what the
model accepts), model_migrations applied at enqueue and recorded on the run, cron's daily check of
every schedule, and ``nightshift models``."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis as redis_lib

from core import events
from core.catalog import Catalog
from core.records import Records
from core.settings import Settings
from scheduler.cron import check_schedules
from tests.scheduler.conftest import cli, write

TASK = "name: q\nprompt: hi\nmodel: {model}\n"


pytestmark = pytest.mark.usefixtures("cli_env")


def test_a_retired_model_is_refused_at_validate_naming_its_replacement(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write(tmp_path / "t.yaml", TASK.format(model="claude-sonnet-4-5"))
    code, _, err = cli(capsys, "validate", str(path))
    assert code == 1
    assert (
        f"{path}:3: model: model 'claude-sonnet-4-5' was retired on 2026-11-30; use 'claude-sonnet-5-5'"
        in err
    )


def test_a_deprecated_model_validates_with_a_dated_warning(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = cli(
        capsys, "validate", str(write(tmp_path / "t.yaml", TASK.format(model="claude-opus-4-5")))
    )
    assert code == 0 and out.startswith("ok: 1 task")
    assert "warning:" in err and "deprecated and retires on 2027-01-22" in err and "claude-opus-5-5" in err


def test_thinking_is_refused_with_field_line_and_what_the_model_accepts(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = TASK.format(model="claude-haiku-4-5") + "thinking:\n  type: adaptive\n"
    code, _, err = cli(capsys, "validate", str(write(tmp_path / "t.yaml", text)))
    assert code == 1 and ":5: thinking.type:" in err and "it accepts: off, enabled" in err
    text = TASK.format(model="claude-sonnet-4-6") + "thinking: {type: adaptive, effort: xhigh}\n"
    code, _, err = cli(capsys, "validate", str(write(tmp_path / "u.yaml", text)))
    assert code == 1 and ":4: thinking.effort:" in err and "it accepts: low, medium, high, max" in err


def test_manual_budgets_are_translated_on_5x_and_xhigh_is_accepted(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = TASK.format(model="claude-opus-5-5") + "thinking: {type: enabled, budget_tokens: 8000}\n"
    code, _, err = cli(capsys, "validate", str(write(tmp_path / "t.yaml", text)))
    assert code == 0 and "runs as adaptive with effort medium" in err
    text = (
        TASK.format(model="claude-sonnet-5-5")
        + "thinking: {type: adaptive, effort: xhigh, display: summarized}\n"
    )
    assert cli(capsys, "validate", str(write(tmp_path / "u.yaml", text)))[:2] == (
        0,
        "ok: 1 task(s) in 1 file(s)\n",
    )


def test_a_5_5_model_refuses_a_dated_tool_group(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    text = TASK.format(model="claude-haiku-5-5") + "tools: computer_use_20251124\n"
    code, _, err = cli(capsys, "validate", str(write(tmp_path / "t.yaml", text)))
    assert code == 1 and ":4: tools: claude-haiku-5-5 accepts only the toolset" in err


def test_model_migrations_rewrite_at_enqueue_and_stay_on_the_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    redis_client: redis_lib.Redis,
) -> None:  # fmt: skip
    monkeypatch.setenv("NIGHTSHIFT_MODEL_MIGRATIONS", '{"claude-sonnet-4-5": "claude-sonnet-5-5"}')
    path = write(tmp_path / "t.yaml", TASK.format(model="claude-sonnet-4-5-20250929"))
    code, out, err = cli(capsys, "enqueue", str(path))
    assert code == 0 and "rewrites 'claude-sonnet-4-5-20250929' to 'claude-sonnet-5-5'" in err
    run_id = out.strip()
    assert Records(redis_client).get(run_id).spec["model"] == "claude-sonnet-5-5"
    moved = [e.data for e in events.read(redis_client, run_id) if e.type == "model_migrated"]
    assert [(e["from_model"], e["to_model"]) for e in moved] == [
        ("claude-sonnet-4-5-20250929", "claude-sonnet-5-5")
    ]


def test_cron_checks_every_schedule_for_what_breaks_and_when(settings: Settings, tmp_path: Path) -> None:
    write(tmp_path / "old.yaml", TASK.format(model="claude-sonnet-4-5"))
    write(tmp_path / "aging.yaml", TASK.format(model="claude-opus-4-5"))
    write(tmp_path / "fine.yaml", TASK.format(model="claude-sonnet-5-5"))
    entries = [f"- {{name: {n}, cron: '0 2 * * *', tasks: {n}.yaml}}\n" for n in ("old", "aging", "fine")]
    schedules = write(tmp_path / "s.yaml", "".join(entries))
    findings = check_schedules(settings, Catalog.build(settings), schedules)
    assert len(findings) == 2
    assert findings[0].startswith("old: breaks now:") and "use 'claude-sonnet-5-5'" in findings[0]
    assert findings[1].startswith("aging:") and "retires on 2027-01-22" in findings[1]


def test_nightshift_models_prints_the_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "models")
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert code == 0 and out.splitlines()[0].startswith("model")
    assert (
        "computer_toolset_20260801 only" in lines["claude-opus-5-5"]
        and "4/5/8/0.2/20" in lines["claude-opus-5-5"]
    )
    assert "0.1/0.125/0.2/0.01/0.5; >100K: x5" in lines["claude-haiku-5-5"]
    assert "retired 2026-11-30; use claude-sonnet-5-5" in lines["claude-sonnet-4-5"]
    assert "claude-sonnet-4-5-20250929" not in lines
    assert "claude-sonnet-4-5-20250929" in cli(capsys, "models", "--all")[1]
