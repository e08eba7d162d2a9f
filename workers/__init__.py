"""The data plane: Celery app and thin tasks, agent loop, sandbox client, model client, stores."""
