"""The no-op driver: the operator chose not to fence this host.

For labs, and for storage that fences by itself.  It never touches a BMC
and answers NOT_FENCED, so the engine can record that the host's VMs were
moved without proof that it is off.  It is only used when a host's section
(or the defaults) names it: a missing configuration is an error, never a
silent no-op.
"""

import time

from oslo_log import log as logging

from nova_ha.fencing import base

LOG = logging.getLogger(__name__)


class NoopFenceDriver(base.FenceDriver):

    name = 'noop'

    def get_power_state(self):
        return base.PowerState.UNKNOWN

    def request_power_off(self):
        """Does nothing, on purpose."""

    def fence(self, timeout, poll_interval=0.5, clock=time.monotonic,
              sleep=time.sleep, retry_interval=None):
        detail = ('host %s was NOT fenced: the noop fence driver is '
                  'configured for it, so its power state is unknown'
                  % self.host)
        LOG.warning('nova-ha: %s', detail)
        return base.FenceResult(
            host=self.host, driver=self.name,
            outcome=base.FenceOutcome.NOT_FENCED,
            power_state=base.PowerState.UNKNOWN, detail=detail,
            elapsed_s=0.0, attempts=0)
