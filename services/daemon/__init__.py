"""`waagent -daemon`: the supervisor that runs every service on a host without systemd."""
