"""The D-Bus core shared by the services: declaring methods, authorizing, dispatching, running."""

from .interface import (
    PUBLIC,
    ROOT_ONLY,
    Auth,
    Interface,
    bus_method,
    polkit_action,
    polkit_action_by,
)
from .polkit import Caller, current_caller
from .service import ServiceContext, service_main

__all__ = [
    "PUBLIC",
    "ROOT_ONLY",
    "Auth",
    "Caller",
    "Interface",
    "ServiceContext",
    "bus_method",
    "current_caller",
    "polkit_action",
    "polkit_action_by",
    "service_main",
]
