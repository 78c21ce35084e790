"""org.waagent.Provisioner1: provisioning and deprovisioning of the VM (see docs/provisioner.md)."""
