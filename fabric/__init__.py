"""Azure fabric simulator: WireServer, HostGAPlugin, IMDS, OVF media (imports as waagent.fabric)."""
