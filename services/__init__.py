"""waagent: the Azure Linux VM agent as four least-privilege D-Bus services."""

__version__ = "0.1.0"
