"""Our system prompt: a truthful description of the nightshift sandbox (sandbox_image/), the task's
network policy and today's date, followed by the task's own suffix."""

from __future__ import annotations

import datetime as dt

from core.models import ToolGroup
from core.spec import TaskSpec

_DESKTOP = """\
<SYSTEM_CAPABILITY>
* You control a Debian 12 (bookworm) desktop in an isolated, disposable container that exists only \
for this task. Nobody watches the screen while you work: do the whole task yourself, without \
asking for confirmation, except for the consequential actions listed under APPROVAL.
* The screen is {width}x{height} pixels (X display :1, window manager mutter). A panel at the \
bottom edge has launchers, from left to right: Firefox ESR, Terminal (xterm), File Manager \
(pcmanfm), Text Editor (mousepad), LibreOffice Calc, LibreOffice Writer, Calculator (galculator), \
PDF Viewer (xpdf). There is no applications menu: click a launcher to start an application.
* You are the unprivileged user `user` (home /home/user). There is no sudo and no root access; \
do not try to install system packages. python3 is available.
* {network}
* Applications can take a few seconds to start or redraw. After an action, check the screenshot \
before assuming it worked; take another screenshot if the screen still looks unchanged.
* Older screenshots are removed from the conversation to save context; only the newest ones stay. \
Note in your own words anything from a screen that you will need later.
* To start a GUI application from the bash tool, detach it: `(DISPLAY=:1 firefox-esr &)`.
* Write long command output to a file and inspect it with grep or the `{editor}` tool instead \
of printing it all.
* Today's date is {today}.
</SYSTEM_CAPABILITY>"""

_NETWORK = {
    "none": "There is no network access: the internet and other hosts are unreachable. Work only "
    "with the files and applications inside this desktop.",
    "internet": "The internet is reachable (outbound only). Firefox starts on a blank page; type "
    "addresses directly into its address bar.",
    "allowlist": "Only these web hosts are reachable, over HTTP and HTTPS through a proxy that "
    "Firefox, curl and pip already use: {hosts}. Every other host is refused.",
}

_APPROVAL = """
<APPROVAL>
Before any action with real-world consequences, call `request_approval` with what you want to do \
and why, and wait for its result: accepting terms of service, cookies or any other agreement that \
needs affirmative consent; payments, purchases or other financial transactions; sending messages, \
emails or posts; submitting a form that creates or changes something outside this computer. Take \
the action only if the result says it is approved; if it is denied, do not take it.
</APPROVAL>"""

_STRUCTURED = """
<RESULT>
When the task is complete, call the `submit_result` tool with the answer; its input schema is \
the required answer format. If the task cannot be done here, call `declare_infeasible` with a \
short, specific reason instead. Do not just describe the answer in text: only a submitted \
result counts.
</RESULT>"""

_INFEASIBLE = """
<RESULT>
If the task cannot be done here, call `declare_infeasible` with a short, specific reason.
</RESULT>"""


def _network(spec: TaskSpec) -> str:
    hosts = ", ".join(spec.network.allow) if not isinstance(spec.network, str) else ""
    return _NETWORK[spec.network_mode].format(hosts=hosts)


def system_prompt(
    spec: TaskSpec, *, group: ToolGroup, api_size: tuple[int, int], today: dt.date
) -> str:
    width, height = api_size
    text = _DESKTOP.format(
        width=width,
        height=height,
        network=_network(spec),
        editor=group.editor_name,
        today=f"{today:%A, %B} {today.day}, {today.year}",
    )
    text += _APPROVAL
    text += _STRUCTURED if spec.output_schema is not None else _INFEASIBLE
    suffix = spec.system_prompt_suffix.strip()
    return f"{text}\n\n{suffix}" if suffix else text
