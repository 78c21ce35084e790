"""Typed clients of the services a waagent service calls over the bus: one module per remote
service, each with a Protocol the logic depends on (tests give fakes of that Protocol) and the
D-Bus implementation. Only these modules build bus messages for outgoing calls."""
