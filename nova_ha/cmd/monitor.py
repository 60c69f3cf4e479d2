"""nova-ha-monitor: the compute-node monitor service.

    nova-ha-monitor --config-file /etc/nova-ha/nova-ha.conf
    nova-ha-monitor --config-file /etc/nova-ha/nova-ha.conf --check

Runs on every compute node (see etc/systemd/nova-ha-monitor.service):
heartbeats for the host, restarts nova-compute (and optionally libvirtd)
when it dies and reports process.down / process.up, and reports VM
failures seen by libvirt, on the engine's topic ([engine] monitor_topic
over oslo.messaging's transport_url).  ``--check`` runs each enabled
process check once, prints the readings and exits 0 when all are up.

Exit status: 0 after SIGTERM/SIGINT (everything stopped, the host group
left), 2 for a configuration that cannot work (the unit file does not
restart it for that).
"""

import signal
import sys
import threading

from oslo_config import cfg
from oslo_log import log as logging
import oslo_messaging as messaging

from nova_ha import conf as ha_conf
from nova_ha.compute_hooks import process_decision
from nova_ha.compute_hooks import service as monitor_service

LOG = logging.getLogger(__name__)

CONFIG_ERROR = 2

CLI_OPTS = [
    cfg.BoolOpt('check', default=False,
                help='Run each enabled process check once, print the '
                     'readings and exit (0 when every process is up, 1 '
                     'otherwise). Publishes nothing, restarts nothing.'),
]


def print_checks(conf):
    """The --check mode; returns the exit status."""
    monitors = monitor_service.process_monitors(conf, publisher=None)
    all_up = True
    for monitor in monitors:
        reading = monitor.check()
        all_up = all_up and reading.state == process_decision.UP
        print('%s: %s (%r: %s)' % (monitor.process, reading.state,
                                   monitor.check, reading.detail))
    if not monitors:
        print('no process is watched ([monitor_*] enabled = false)')
    return 0 if all_up else 1


def main(argv=None):
    conf = ha_conf.CONF
    logging.register_options(conf)
    conf.register_cli_opts(CLI_OPTS)
    messaging.set_transport_defaults('nova-ha')
    conf(sys.argv[1:] if argv is None else argv, project='nova-ha',
         prog='nova-ha-monitor')
    logging.setup(conf, 'nova-ha')
    try:
        if conf.check:
            return print_checks(conf)
        service = monitor_service.MonitorService(conf)
    except monitor_service.MonitorConfigError as exc:
        problem = str(exc)
    else:
        problem = None
    if problem:
        LOG.error('nova-ha-monitor cannot start: %s', problem)
        return CONFIG_ERROR
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    service.start()
    stop.wait()
    LOG.info('stopping nova-ha-monitor for host %s', service.host)
    service.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
