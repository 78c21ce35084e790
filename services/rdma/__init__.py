"""waagent-rdma: the RDMA setup at boot (reference §10.11), a oneshot with CAP_SYS_MODULE."""
