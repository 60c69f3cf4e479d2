"""A scripted fence driver and a virtual clock for the procedure's tests.

The BMC is replaced here because these tests are about the decision logic
on a virtual clock; the real BMC peers (pyghmi's fakebmc, sushy-tools'
emulator) are exercised by tests/integration/fencing.
"""

from nova_ha.fencing import base


class FakeClock:
    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


class ScriptedDriver(base.FenceDriver):
    """Answers power-state reads from a script.

    ``states`` is consumed one item per read; the last item repeats.  An
    item may be an exception instance, raised instead.  ``off_after`` turns
    the host off that many reads after the first power-off request.
    """

    name = 'scripted'

    def __init__(self, states, password='s3cr3t-Pa55', request_errors=(),
                 off_after=None, clock=None, read_cost=0.0):
        super().__init__('compute-1', base.BMCConfig(
            driver='scripted', address='10.0.0.1', username='fence',
            password=password))
        self.states = list(states)
        self.request_errors = list(request_errors)
        self.off_after = off_after
        self.clock = clock
        self.read_cost = read_cost
        self.reads = 0
        self.requests = 0
        self.reads_since_request = None
        self.closed = False

    def get_power_state(self):
        self.reads += 1
        if self.clock is not None:
            self.clock.now += self.read_cost
        if self.reads_since_request is not None:
            self.reads_since_request += 1
            if (self.off_after is not None
                    and self.reads_since_request >= self.off_after):
                return base.PowerState.OFF
        item = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        if isinstance(item, Exception):
            raise item
        return item

    def request_power_off(self):
        self.requests += 1
        if self.request_errors:
            error = self.request_errors.pop(0)
            if error is not None:
                raise error
        if self.reads_since_request is None:
            self.reads_since_request = 0

    def close(self):
        self.closed = True
