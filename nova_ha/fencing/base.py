"""The fence driver contract: what every driver does and what a fence returns.

Fencing is the engine's proof that a failed hypervisor can no longer write
to shared storage: only a host that its BMC *confirms* powered off may have
its VMs rebuilt elsewhere.  A driver therefore answers two questions, "what
is the power state?" and "cut the power now", and the shared procedure
(:mod:`nova_ha.fencing.procedure`) turns them into a :class:`FenceResult`
with positive proof or a clear reason why there is none.

Drivers are one module each, registered under the stevedore namespace
``nova_ha.fencing.drivers`` and chosen per host by configuration
(:mod:`nova_ha.fencing.registry`).
"""

import abc
import dataclasses
import time

# What a fence returns and how it fails (kept importable from here).
from nova_ha.fencing.results import BMCAuthError  # noqa: F401
from nova_ha.fencing.results import BMCUnreachable  # noqa: F401
from nova_ha.fencing.results import FenceConfigError  # noqa: F401
from nova_ha.fencing.results import FenceError  # noqa: F401
from nova_ha.fencing.results import FenceOutcome  # noqa: F401
from nova_ha.fencing.results import FenceResult  # noqa: F401
from nova_ha.fencing.results import PowerState  # noqa: F401


@dataclasses.dataclass
class BMCConfig:
    """How to reach one host's BMC.

    ``password`` is excluded from ``repr()`` (and so from ``str()`` and from
    any log line that formats the config).  ``options`` holds the driver's
    extras (``cipher_suite``, ``interface``, ``system_id``, ``verify_tls``,
    ``ca_file``, ``request_timeout``); it must never hold a secret.
    """

    driver: str
    address: str | None = None
    port: int | None = None
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    options: dict = dataclasses.field(default_factory=dict)


class FenceDriver(abc.ABC):
    """One host's BMC, seen through one management protocol.

    Subclasses implement :meth:`get_power_state` and
    :meth:`request_power_off`, raising :class:`BMCUnreachable`,
    :class:`BMCAuthError` or :class:`FenceError` with a message safe to log,
    and may override :meth:`close` to release a session.  Every BMC call
    must be bounded in time by the driver (the procedure can only check its
    deadline between calls).  :meth:`fence` is the only entry point the
    engine uses, and it never raises.
    """

    #: The entry point name of the driver (set by each subclass).
    name = 'base'

    def __init__(self, host, bmc):
        self.host = host
        self.bmc = bmc

    @abc.abstractmethod
    def get_power_state(self):
        """Return the host's :class:`PowerState` as the BMC reports it."""

    @abc.abstractmethod
    def request_power_off(self):
        """Ask the BMC to cut the power at once (not a graceful shutdown).

        Returns when the BMC accepted the request; the power may go off
        later, which :meth:`fence` confirms by polling.
        """

    def close(self):
        """Release any session held with the BMC (called after a fence)."""

    def secrets(self):
        """Strings that must never appear in a result, log or exception."""
        return [self.bmc.password] if self.bmc.password else []

    def fence(self, timeout, poll_interval=0.5, clock=time.monotonic,
              sleep=time.sleep, retry_interval=None):
        """Power the host off and confirm it; never raises.

        ``retry_interval`` (seconds) re-sends the power-off request when
        the BMC still reports the host on that long after the last request;
        None uses the procedure's default.
        """
        from nova_ha.fencing import procedure
        return procedure.fence(self, timeout, poll_interval=poll_interval,
                               clock=clock, sleep=sleep,
                               retry_interval=retry_interval)

    def __repr__(self):
        return '<%s host=%s bmc=%r>' % (type(self).__name__, self.host,
                                        self.bmc)
