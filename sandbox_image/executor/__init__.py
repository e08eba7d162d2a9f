"""The in-sandbox executor: answers computer / bash / editor tool calls over one long-lived channel.

Runs inside the sandbox with the system Python (stdlib, python3-xlib, Pillow, mss only).
It must not import anything from ``workers`` or ``scheduler``.
"""
