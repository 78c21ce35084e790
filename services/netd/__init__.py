"""org.waagent.Network1: the WireServer firewall (CAP_NET_ADMIN and nothing else)."""
