"""waagent-wirepoll: wire's lean resident poller (stdlib only, see docs/wire.md)."""
