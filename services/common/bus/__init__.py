"""The D-Bus core shared by the services: declaring methods, authorizing, dispatching, running."""

from .interface import PUBLIC, ROOT_ONLY, Auth, Interface, bus_method, polkit_action
from .service import ServiceContext, service_main

__all__ = [
    "PUBLIC",
    "ROOT_ONLY",
    "Auth",
    "Interface",
    "ServiceContext",
    "bus_method",
    "polkit_action",
    "service_main",
]
