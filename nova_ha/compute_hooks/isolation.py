"""The isolation response: a host cut off from everything acts on its guests.

``is_isolated`` is the pure rule: the host is isolated when, for
``isolation_time``, its heartbeat reached no coordination backend, no peer
was heard and the gateway (when one is configured) did not answer.  Any
one of them answering means it is not: its failure is visible to the
engine, which decides.

``IsolationResponse.tick`` applies ``[isolation] response`` once per
isolation (leave, shutdown, power_off) through the guest command, or
libvirt when there is none, and logs it; it is re-armed when the host is
back in touch.
"""

import shlex
import socket
import subprocess
import threading
import time

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

LEAVE = 'leave'
NEVER = float('-inf')


def is_isolated(now, isolation_time, coordination_ok_at, peer_heard_at,
                gateway_ok_at, has_gateway):
    """(isolated, why); times are the last success of each channel."""
    quiet = [('coordination backend', coordination_ok_at),
             ('peers', peer_heard_at)]
    if has_gateway:
        quiet.append(('gateway', gateway_ok_at))
    answering = [name for name, at in quiet
                 if at is not None and now - at < isolation_time]
    if answering:
        return False, '%s answer%s' % (', '.join(answering),
                                       's' if len(answering) == 1 else '')
    return True, 'no answer from %s for %.0f s' % (
        ', '.join(name for name, _ in quiet), isolation_time)


def gateway_answers(address, port, timeout=1.0):
    """A TCP connection accepted or refused: something answered."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


def libvirt_guests(response):
    import libvirt
    conn = libvirt.open('qemu:///system')
    try:
        for domain in conn.listAllDomains(
                libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
            if response == 'shutdown':
                domain.shutdown()
            else:
                domain.destroy()
    finally:
        conn.close()


class IsolationResponse:

    def __init__(self, response, isolation_time, coordination_ok_at,
                 peer_heard_at, gateway=None, gateway_port=22,
                 guest_command=None, clock=time.time):
        self.response = response
        self.isolation_time = isolation_time
        self._coordination_ok_at = coordination_ok_at   # callables
        self._peer_heard_at = peer_heard_at
        self.gateway = gateway
        self.gateway_port = gateway_port
        self.guest_command = guest_command
        self._clock = clock
        self._gateway_ok_at = clock()
        self._started_at = clock()
        self.applied = False
        self._stop = threading.Event()
        self._thread = None

    @classmethod
    def from_conf(cls, conf, coordination_ok_at, peer_heard_at):
        options = conf.isolation
        return cls(options.response, options.isolation_time,
                   coordination_ok_at, peer_heard_at,
                   gateway=options.gateway,
                   gateway_port=options.gateway_port,
                   guest_command=options.guest_command)

    def tick(self):
        now = self._clock()
        if self.gateway and gateway_answers(self.gateway, self.gateway_port):
            self._gateway_ok_at = now
        # Nothing heard yet counts from the start (a host that boots
        # isolated is isolated after isolation_time).
        isolated, why = is_isolated(
            now, self.isolation_time,
            self._coordination_ok_at() or self._started_at,
            self._peer_heard_at() or self._started_at,
            self._gateway_ok_at, bool(self.gateway))
        if not isolated:
            if self.applied:
                LOG.warning('no longer isolated (%s)', why)
            self.applied = False
            return False
        if self.applied:
            return True
        self.applied = True
        if self.response == LEAVE:
            LOG.error('host isolated (%s): guests left running '
                      '([isolation] response = leave)', why)
            return True
        LOG.error('host isolated (%s): applying the isolation response '
                  '%s to its guests', why, self.response)
        try:
            if self.guest_command:
                subprocess.run(shlex.split(self.guest_command) +
                               [self.response], timeout=60, check=True)
            else:
                libvirt_guests(self.response)
        except Exception as e:
            LOG.error('isolation response %s failed: %s', self.response, e)
        return True

    def start(self, interval=1.0):
        def run():
            while not self._stop.wait(interval):
                self.tick()
        self._thread = threading.Thread(target=run, daemon=True,
                                        name='nova-ha-isolation')
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
