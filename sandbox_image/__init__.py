"""The sandbox image: its build, the desktop start-up and the in-sandbox executor."""
