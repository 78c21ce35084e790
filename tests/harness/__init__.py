"""Real components for tests and the demo: a private dbus-daemon, polkitd, sandboxes, callers.

Nothing here mocks our services or the bus. Everything started is recorded and stopped by PID,
including on failure.
"""
