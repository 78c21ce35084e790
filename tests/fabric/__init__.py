"""Tests of the Azure fabric simulator (waagent.fabric), over real HTTP."""
