"""A lab host's BMC: IPMI (pyghmi's BMC server) and Redfish (sushy-tools).

One process per host, in the root namespace, so that it outlives its
host's power as a BMC on standby power does; killing this process is the
"BMC unreachable" failure.  Both protocols act on the host through
``hosts.Hosts``: power off kills every process of the host at once, power
on boots it (empty ledger, nova-compute and the monitor started again),
and the power state read is the host's power file (a hung host reads on).

    python -m nova_ha_lab.bmc --dir LAB HOST
"""

import argparse
import logging
import os
import sys
import threading

import bcrypt
from pyghmi.ipmi import bmc as ipmi_bmc
from sushy_tools.emulator import main as sushy_main
from sushy_tools.emulator.resources.systems import fakedriver
from werkzeug import serving

from nova_ha_lab import ha_conf
from nova_ha_lab import hosts as lab_hosts
from nova_ha_lab import layout as lab_layout

LOG = logging.getLogger('nova_ha_lab.bmc')


class HostPower:
    """The power switch both protocols share (one action at a time)."""

    def __init__(self, layout, host):
        self.hosts = lab_hosts.Hosts(layout)
        self.host = host
        self._lock = threading.Lock()

    def state(self):
        return self.hosts.power(self.host)

    def off(self):
        with self._lock:
            LOG.info('%s: power off', self.host.name)
            self.hosts.power_off(self.host)

    def on(self):
        with self._lock:
            LOG.info('%s: power on', self.host.name)
            self.hosts.power_on(self.host)


class IpmiBmc(ipmi_bmc.Bmc):
    """The host's IPMI 2.0 BMC (lanplus)."""

    def __init__(self, power, port):
        super().__init__({lab_layout.BMC_USER: lab_layout.BMC_PASSWORD},
                         port=port)
        self.power = power

    def get_power_state(self):
        return self.power.state()

    def power_off(self):
        self.power.off()

    def power_on(self):
        self.power.on()

    def power_shutdown(self):
        self.power.off()

    def power_reset(self):
        self.power.off()
        self.power.on()

    def power_cycle(self):
        self.power_reset()

    def is_active(self):
        return self.power.state() == lab_hosts.ON

    def cold_reset(self):
        # A reset of the BMC itself, not of the host: nothing to do here.
        pass


class RedfishSystems(fakedriver.FakeDriver):
    """sushy-tools' fake systems driver, with the power of a lab host."""

    power = None   # a HostPower, set by the class made in redfish_app()

    def get_power_state(self, identity):
        self._get(identity)  # 404 for an unknown system
        return 'On' if self.power.state() == lab_hosts.ON else 'Off'

    def set_power_state(self, identity, state):
        self._get(identity)
        if state in ('On', 'ForceOn'):
            self.power.on()
        elif state in ('ForceOff', 'GracefulShutdown', 'PushPowerButton',
                       'Nmi'):
            # A lab host has no operating system to shut down cleanly.
            self.power.off()
        elif 'Restart' in state:
            self.power.off()
            self.power.on()
        else:
            super().set_power_state(identity, state)


def redfish_app(layout, host, power):
    """sushy-tools' emulator application, serving this host's system."""
    state_dir = os.path.join(layout.host_dir(host.name), 'redfish')
    os.makedirs(state_dir, exist_ok=True)
    htpasswd = os.path.join(state_dir, 'htpasswd')
    with open(htpasswd, 'w') as out:
        out.write('%s:%s\n' % (lab_layout.BMC_USER, bcrypt.hashpw(
            lab_layout.BMC_PASSWORD.encode(), bcrypt.gensalt(4)).decode()))
    app = sushy_main.app
    app.configure(extra_config={
        'SUSHY_EMULATOR_FAKE_DRIVER': True,
        'SUSHY_EMULATOR_STATE_DIR': state_dir,
        'SUSHY_EMULATOR_AUTH_FILE': htpasswd,
        'SUSHY_EMULATOR_FAKE_SYSTEMS': [{
            'uuid': ha_conf.redfish_system_id(host), 'name': host.name,
            'power_state': 'On', 'nics': []}],
    })
    systems = type('HostSystems', (RedfishSystems,), {'power': power})

    class LabApplication(sushy_main.Application):
        # The emulator's routes are bound to its module-level application,
        # whose driver is chosen by configuration among its own; this
        # subclass only swaps in the lab host's driver.
        @property
        def systems(self):
            if not hasattr(self, '_lab_systems'):
                self._lab_systems = systems.initialize(app.config,
                                                       app.logger)()
            return self._lab_systems

    app.__class__ = LabApplication
    return app


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--dir', help='the lab directory')
    parser.add_argument('host')
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stdout,
        format='%(asctime)s %(levelname)s %(name)s %(message)s')
    layout = lab_layout.default_layout(args.dir)
    host = layout.host(args.host)
    power = HostPower(layout, host)
    ipmi = IpmiBmc(power, host.bmc_port)
    threading.Thread(target=ipmi.listen, name='ipmi', daemon=True).start()
    server = serving.make_server('127.0.0.1', ha_conf.redfish_port(host),
                                 redfish_app(layout, host, power),
                                 threaded=True)
    LOG.info('BMC of %s: IPMI on udp/%d, Redfish on http://127.0.0.1:%d',
             host.name, host.bmc_port, ha_conf.redfish_port(host))
    server.serve_forever()
    return 0


if __name__ == '__main__':
    sys.exit(main())
