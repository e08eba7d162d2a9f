"""Human approval on the worker's side: the policies that hold an action for a person
(``policy``), and pausing a waiting run without a worker and resuming it on its machine (``pause``).
The loop's own part, the ``request_approval`` tool, is ``workers/agent/approval.py``."""
