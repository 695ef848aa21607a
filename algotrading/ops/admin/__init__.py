"""The admin socket: a line-delimited JSON protocol on a Unix socket (mode 0600) in the state
directory, served by :class:`~algotrading.ops.admin.service.AdminService` while the daemon
runs; ``algotrading ctl`` is its client. Documented in docs/operations/admin-socket.md.

Only the light modules are imported here, so that the client starts fast; the service is
``algotrading.ops.admin.service.AdminService``."""

from algotrading.ops.admin.config import AdminConfig, socket_path

__all__ = ["AdminConfig", "socket_path"]
