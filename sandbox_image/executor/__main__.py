"""``python3 -m sandbox_image.executor``: serve tool calls on the sandbox's unix socket."""

from sandbox_image.executor.server import main

main()
