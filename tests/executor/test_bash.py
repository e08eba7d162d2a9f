"""The bash tool as the model uses it: a real /bin/bash session on this host."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandbox_image.executor.bash import BashTool
from sandbox_image.executor.bash_capture import OutputCapture, sentinel_marker
from sandbox_image.executor.result import ToolError
from tests.conftest import ROOT
from tests.executor.conftest import BashFactory, run


def error_of(tool: BashTool, tool_input: object, tool_type: str = "bash_20250124", name: str = "bash") -> str:
    with pytest.raises(ToolError) as caught:
        tool.call(tool_type, name, tool_input, None)
    return caught.value.message


def alive(pid: int) -> bool:
    """``pid`` exists and is not a zombie waiting for init to reap it."""
    return _state(pid) not in ("Z", "X")


def wait_gone(pid: int, limit_s: float = 10.0) -> bool:
    """True once ``pid`` is dead (SIGKILL is asynchronous: allow it a moment)."""
    deadline = time.monotonic() + limit_s
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# --- a persistent session -------------------------------------------------------------------


@pytest.mark.parametrize("tool_type", ["bash_20241022", "bash_20250124"])
def test_every_version_runs_commands(bash: BashTool, tool_type: str) -> None:
    assert run(bash, "echo hello", tool_type) == "hello"


def test_cwd_env_variables_and_functions_persist(bash: BashTool, tmp_path: Path) -> None:
    (tmp_path / "sub dir").mkdir()
    assert run(bash, "cd 'sub dir' && export GREETING=hi && local_var=42 && f() { echo fn; }") == ""
    assert run(bash, 'pwd; echo "$GREETING $local_var"; f') == f"{tmp_path}/sub dir\nhi 42\nfn"
    assert run(bash, "bash -c 'echo $GREETING'") == "hi"


def test_starts_in_the_configured_directory(bash: BashTool, tmp_path: Path) -> None:
    assert run(bash, "pwd") == str(tmp_path)


def test_command_ending_in_ampersand_returns_and_the_job_survives(bash: BashTool) -> None:
    pid = int(run(bash, "sleep 60 &\necho $!"))
    assert run(bash, "sleep 60 &") == ""
    assert alive(pid)
    assert str(pid) in run(bash, "jobs -p").split()


def test_subshell_background_form_works_too(bash: BashTool, tmp_path: Path) -> None:
    assert run(bash, f"(sleep 0.1; touch {tmp_path}/done) &") == ""
    assert run(bash, f"while [ ! -e {tmp_path}/done ]; do sleep 0.05; done; echo ok") == "ok"


def test_command_ending_in_a_comment(bash: BashTool) -> None:
    assert run(bash, "echo visible # the sentinel must not be commented out") == "visible"
    assert run(bash, "# only a comment") == ""
    assert run(bash, "echo next") == "next"


def test_heredoc_writes_a_file_verbatim(bash: BashTool, tmp_path: Path) -> None:
    body = 'it\'s "quoted"\n\tand tabbed \\ backslash $HOME `date` $(id)\nünïcødé ✓'
    command = f"cat > {tmp_path}/out.txt <<'EOF'\n{body}\nEOF"
    assert run(bash, command) == ""
    assert (tmp_path / "out.txt").read_text() == body + "\n"


def test_heredoc_expands_and_may_end_the_command(bash: BashTool) -> None:
    assert run(bash, "NAME=world\ncat <<EOF\nhello $NAME\nEOF") == "hello world"
    assert run(bash, "cat <<-END\n\tstripped\n\tEND\necho after") == "stripped\nafter"


def test_big_heredoc_command(bash: BashTool, tmp_path: Path) -> None:
    body = "\n".join(f"line {i} with 'quotes' and \\ backslashes" for i in range(5000))
    assert run(bash, f"cat > {tmp_path}/big.txt <<'EOF'\n{body}\nEOF\nwc -l < {tmp_path}/big.txt") == "5000"
    assert (tmp_path / "big.txt").read_text() == body + "\n"


def test_special_characters_pass_through(bash: BashTool) -> None:
    command = "printf '%s|' \"it's\" 'back\\slash' \"$'ansi'\" 'tab\there' 'ünï' ; echo"
    assert run(bash, command) == "it's|back\\slash|$'ansi'|tab\there|ünï|"


def test_multiline_and_continued_commands(bash: BashTool) -> None:
    assert run(bash, "for i in 1 2 3; do\n  echo $i\ndone") == "1\n2\n3"
    assert run(bash, "echo one \\\n  two") == "one two"


def test_output_without_trailing_newline(bash: BashTool) -> None:
    assert run(bash, "printf abc") == "abc"
    assert run(bash, "printf 'x\\ny'") == "x\ny"
    assert run(bash, "echo next") == "next"


def test_blank_lines_are_kept(bash: BashTool) -> None:
    assert run(bash, "printf 'a\\n\\n\\nb\\n\\n'") == "a\n\n\nb\n"


def test_stderr_is_merged_in_order(bash: BashTool) -> None:
    command = "echo one; echo two >&2; echo three; ls /definitely/missing"
    lines = run(bash, command).splitlines()
    assert lines[:3] == ["one", "two", "three"]
    assert "/definitely/missing" in lines[3]
    assert lines[4] == "[exit status 2]"


def test_exit_status_is_reported_only_when_non_zero(bash: BashTool) -> None:
    assert run(bash, "true") == ""
    assert run(bash, "false") == "[exit status 1]"
    assert run(bash, "echo partial; (exit 7)") == "partial\n[exit status 7]"
    assert run(bash, "printf no-newline; (exit 3)") == "no-newline\n[exit status 3]"
    assert run(bash, "echo fine") == "fine"


def test_stdin_is_empty_so_nothing_waits_for_input(bash: BashTool) -> None:
    assert run(bash, "read -r line; echo status=$?") == "status=1"
    assert run(bash, "cat") == ""
    out = run(bash, f"{sys.executable} -c 'input()'")
    assert "EOFError" in out and out.endswith("[exit status 1]")
    assert run(bash, "echo still here") == "still here"


def test_syntax_error_keeps_the_session(bash: BashTool) -> None:
    out = run(bash, "echo 'unterminated")
    assert "unexpected EOF" in out and out.endswith("[exit status 2]")
    assert run(bash, "if then fi").endswith("[exit status 2]")
    assert run(bash, "echo ok") == "ok"


def test_a_printed_fake_sentinel_does_not_end_the_command(bash: BashTool) -> None:
    assert run(bash, "printf '\\n__NS_DONE_0123__ 0\\n'; echo after").endswith("after")


def test_xtrace_does_not_break_the_protocol(bash: BashTool) -> None:
    out = run(bash, "set -x; echo traced")
    assert "traced" in out
    run(bash, "set +x")
    assert run(bash, "echo clean") == "clean"


def test_background_output_arriving_later_is_not_lost(bash: BashTool, tmp_path: Path) -> None:
    flag = tmp_path / "go"
    run(bash, f"(while [ ! -e {flag} ]; do sleep 0.02; done; echo late) &")
    assert run(bash, f"touch {flag}; wait; echo now") == "late\nnow"


def test_non_utf8_output_is_replaced_not_fatal(bash: BashTool) -> None:
    assert run(bash, "printf 'h\\xc3\\xa9 \\xff!'") == "hé \ufffd!"


# --- output cap -----------------------------------------------------------------------------


def test_large_output_is_capped_head_and_tail_with_a_note(make_bash: BashFactory) -> None:
    tool = make_bash(max_output=1000)
    out = run(tool, "seq 1 100000")
    assert out.startswith("1\n2\n3\n")
    assert out.endswith("99999\n100000")
    assert "<response clipped><NOTE>" in out and "</NOTE>" in out
    note = out[out.index("<response clipped>") : out.index("</NOTE>")]
    assert "of 588,895 bytes" in note  # seq 1 100000 prints 588,895 bytes
    assert len(out) < 1000 + len(note) + 50


def test_output_under_the_cap_is_untouched(make_bash: BashFactory) -> None:
    tool = make_bash(max_output=1000)
    expected = "\n".join(str(i) for i in range(1, 201))  # 692 bytes
    assert run(tool, "seq 1 200") == expected


def test_fifty_megabytes_capped_with_bounded_memory(tmp_path: Path) -> None:
    """In a fresh interpreter (so max RSS means something): the run must not grow it by 50 MB."""
    script = f"""
import json, resource, sys
sys.path.insert(0, {str(ROOT)!r})
from sandbox_image.executor.bash import BashTool
tool = BashTool(timeout_s=60, cwd={str(tmp_path)!r})
tool.call("bash_20250124", "bash", {{"command": "true"}}, None)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
big = "head -c 50000000 /dev/zero | tr '\\\\0' a; echo; echo END"
text = tool.call("bash_20250124", "bash", {{"command": big}}, None).text
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tool.close()
print(json.dumps({{"grew_kib": after - before, "length": len(text), "head": text[:5], "tail": text[-4:],
                  "note": "of 50,000,005 bytes" in text}}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["head"] == "aaaaa" and report["tail"] == "\nEND"
    assert report["note"]
    assert 16_000 < report["length"] < 16_600
    assert report["grew_kib"] < 8 * 1024


def test_capture_buffers_stay_fixed_size_and_find_a_split_sentinel() -> None:
    marker = sentinel_marker("abc")
    capture = OutputCapture(marker, head_limit=100, tail_limit=50)
    for _ in range(10_000):
        capture.feed(b"x" * 997)
        assert len(capture.head) <= 100 and len(capture.tail) <= 50
    for byte in marker + b"5\nrest":
        capture.feed(bytes([byte]))
    assert capture.done and capture.status == 5 and capture.leftover == b"rest"
    assert capture.total == 9_970_000
    assert "9,969,850 bytes of output were omitted" in capture.text()


# --- timeout, restart, exit -----------------------------------------------------------------


def test_timeout_kills_the_process_group_and_restart_recovers(make_bash: BashFactory, tmp_path: Path) -> None:
    tool = make_bash(timeout_s=1.0)
    pidfile = tmp_path / "pid"
    message = error_of(tool, {"command": f"echo started; sleep 60 & echo $! > {pidfile}; sleep 60"})
    assert message.startswith("timed out: bash has not returned in 1.0 seconds and must be restarted")
    assert "started" in message
    assert wait_gone(int(pidfile.read_text()))
    again = error_of(tool, {"command": "echo hi"})
    assert again == "timed out: bash has not returned in 1.0 seconds and must be restarted"
    assert tool.call("bash_20250124", "bash", {"restart": True}, None).text == "tool has been restarted."
    assert run(tool, "echo back") == "back"


def test_default_timeout_is_120_seconds() -> None:
    assert BashTool().timeout_s == 120.0


def test_restart_gives_a_fresh_shell_and_kills_old_jobs(bash: BashTool, tmp_path: Path) -> None:
    pid = int(run(bash, "cd /; export KEPT=yes; sleep 60 & echo $!"))
    result = bash.call("bash_20250124", "bash", {"restart": True}, None)
    assert result.text == "tool has been restarted." and not result.is_error
    assert wait_gone(pid)
    assert run(bash, 'pwd; echo "${KEPT:-unset}"') == f"{tmp_path}\nunset"


def test_restart_with_a_command_runs_it_in_the_fresh_shell(bash: BashTool) -> None:
    run(bash, "export OLD=1")
    result = bash.call("bash_20241022", "bash", {"restart": True, "command": 'echo "${OLD:-fresh}"'}, None)
    assert result.text == "tool has been restarted.\nfresh"


def test_restart_before_any_command(bash: BashTool) -> None:
    assert bash.call("bash_20250124", "bash", {"restart": True}, None).text == "tool has been restarted."
    assert run(bash, "echo ok") == "ok"


def test_exit_reports_returncode_until_restart(bash: BashTool) -> None:
    message = error_of(bash, {"command": "echo bye; exit 3"})
    assert message.startswith("bash has exited with returncode 3")
    assert "restart" in message and message.endswith("bye")
    later = error_of(bash, {"command": "echo hi"})
    assert later.startswith("bash has exited with returncode 3") and "restart" in later
    bash.call("bash_20250124", "bash", {"restart": True}, None)
    assert run(bash, "echo alive") == "alive"


def test_exit_is_noticed_while_a_background_job_holds_the_output(bash: BashTool) -> None:
    message = error_of(bash, {"command": "sleep 60 & exit 4"})
    assert message.startswith("bash has exited with returncode 4")


def test_set_e_failure_ends_the_shell_and_says_so(bash: BashTool) -> None:
    assert error_of(bash, {"command": "set -e; false"}).startswith("bash has exited with returncode 1")


def test_close_kills_the_session(make_bash: BashFactory) -> None:
    tool = make_bash()
    pid = int(run(tool, "sleep 60 & echo $!"))
    tool.close()
    assert wait_gone(pid)


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("tool_input", [{}, {"restart": False}, {"command": ""}, {"command": "  \n"}])
def test_no_command_provided(bash: BashTool, tool_input: dict[str, object]) -> None:
    assert error_of(bash, tool_input) == "no command provided."


@pytest.mark.parametrize(
    ("tool_input", "mentions"),
    [
        ({"command": 5}, "`command` must be a string"),
        ({"command": ["ls"]}, "`command` must be a string"),
        ({"restart": "yes"}, "`restart` must be a boolean"),
        ({"restart": 1}, "`restart` must be a boolean"),
        ("echo hi", "must be an object"),
        (None, "must be an object"),
    ],
)
def test_wrong_types_are_clear_errors(bash: BashTool, tool_input: object, mentions: str) -> None:
    assert mentions in error_of(bash, tool_input)


def test_unknown_tool_type_or_name(bash: BashTool) -> None:
    assert "Unknown bash tool type 'bash_20990101'" in error_of(bash, {"command": "ls"}, "bash_20990101")
    assert "must be named 'bash'" in error_of(bash, {"command": "ls"}, "bash_20250124", "shell")


def test_session_survives_bad_input(bash: BashTool) -> None:
    run(bash, "export KEEP=1")
    error_of(bash, {"command": 5})
    assert run(bash, "echo $KEEP") == "1"


def test_no_zombie_shell_after_restarts(bash: BashTool) -> None:
    run(bash, "true")
    for _ in range(3):
        bash.call("bash_20250124", "bash", {"restart": True}, None)
    me = os.getpid()
    children = [
        pid
        for pid in os.listdir("/proc")
        if pid.isdigit() and _parent(int(pid)) == me and _state(int(pid)) == "Z"
    ]
    assert children == []


def _stat_fields(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return ["X", "0"]


def _parent(pid: int) -> int:
    return int(_stat_fields(pid)[1])


def _state(pid: int) -> str:
    return _stat_fields(pid)[0]


def test_odd_characters_in_commands_do_not_break_the_session(bash: BashTool) -> None:
    assert run(bash, "echo 'a\x00b'") == "ab"  # NUL dropped, as bash does in scripts
    assert run(bash, "echo x\ud800y") == "x?y"  # a lone surrogate cannot be encoded: replaced
    assert run(bash, "echo $'\\x41'; echo '\x1b[1mbold\x1b[0m'") == "A\n\x1b[1mbold\x1b[0m"


def test_accepts_and_ignores_a_definition(bash: BashTool) -> None:
    definition = {"type": "bash_20250124", "name": "bash"}
    assert (
        bash.call("bash_20250124", "bash", {"command": "echo ok"}, None, definition=definition).text == "ok"
    )
