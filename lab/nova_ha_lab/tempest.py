"""Tempest, OpenStack's integration suite, against the lab cloud.

    nova-ha-lab tempest [--concurrency 2] [--timeout 7200] [--list]

writes a Tempest workspace under ``<lab>/tempest`` (``etc/tempest.conf``,
``.stestr.conf``, an stestr repository, ``logs/``, ``tempest_lock/``) and
runs there, the lab being up:

    tempest run --config-file <lab>/tempest/etc/tempest.conf \\
        --regex REGEX --exclude-regex EXCLUDE_REGEX --concurrency 2

(the two regexes are this module's constants).  Its output goes to
``<lab>/tempest/logs/run.txt``, Tempest's own log to ``logs/tempest.log``.
``--list`` only lists the selected tests (no cloud needed once the
workspace exists).  The workspace is made by hand, not by ``tempest
init``, which would register it in ``~/.tempest``.

What runs: Nova's API tests of servers (``tempest.api.compute.servers``
and the admin server modules), aggregates (the serial
``tempest.serial_tests.api.compute.admin.test_aggregates`` and the admin
negative module), hypervisors, services, migrations (cold and live).
Tempest 47 has no test of the evacuate action (only its client), so the
selection has none; nova-ha's own evacuations are the scenarios' business.

The configuration says what the lab is (``tempest_conf``):

- Dynamic credentials: Tempest creates its projects and users as the
  lab's admin.  No network is made for them (``create_isolated_networks =
  false``): the lab's Neutron has no project network type and no mechanism
  driver, so no port could be bound.  Servers boot without networks
  (Tempest asks ``networks: none`` from microversion 2.37 on), so nothing
  is validated over the network (``run_validation = false``) and nothing
  is attached (``interface_attach = false``, no floating IPs).  Neutron's
  real extension list is given, so tests of absent extensions (trunk)
  skip.
- No Cinder, Swift or Horizon: every volume test skips.
- Nova's fake driver: resize, cold and live migration (block migration
  too: it claims shared storage), pause, suspend, shelve, rescue, password
  change and console output work.  A snapshot never uploads image data,
  so the image never becomes active: ``snapshot = false``.  No VNC, SPICE
  or serial console (the lab disables VNC).
- ``min_compute_nodes``: the hosts ordinary servers may use;
  ``target_hosts_to_avoid``: the reserved hosts' common name suffix
  (``-spare``), so that Tempest never picks a failover host as the target
  of a migration or unshelve.  The same file serves the lab with and
  without nova-ha, so both runs select and skip the same tests.

Excluded (``EXCLUDE_REGEX``), because they cannot pass on this lab with or
without nova-ha:

- ``test_create_server_multi_nic``: creates project networks and boots on
  them (no project network type, no port binding);
- ``test_list_server_addresses``: wants a server with an address;
- ``test_rescued_vm_add_remove_security_group`` and
  ``test_remove_server_all_security_groups``: security groups apply to a
  server's ports, and lab servers have none;
- ``test_get_console_output_with_unlimited_size``: the fake driver's
  console has 3 lines, the test waits for more;
- ``test_get_hypervisor_uptime``: the fake driver has no uptime (501).
"""

import collections
import importlib.util
import os
import re
import signal
import subprocess
import time

from nova_ha_lab import configs
from nova_ha_lab import layout as lab_layout
from nova_ha_lab import procs as lab_procs

WORKSPACE = 'tempest'
RUN_LOG = 'run.txt'

# Nova 34's newest microversion (nova/api/openstack/api_version_request.py),
# used when the cloud's version document does not say.
NOVA_MIN_MICROVERSION = '2.1'
NOVA_MAX_MICROVERSION = '2.104'

# The admin modules of tempest.api.compute in the selection.
ADMIN_MODULES = (
    # servers
    'test_servers', 'test_servers_negative', 'test_servers_on_multinodes',
    'test_create_server', 'test_delete_server',
    # aggregates (the positive tests are serial, below)
    'test_aggregates_negative',
    # hypervisors
    'test_hypervisor', 'test_hypervisor_negative',
    # services
    'test_services', 'test_services_negative',
    # migrations, cold and live
    'test_migrations', 'test_live_migration', 'test_live_migration_negative',
)
SERIAL_MODULES = ('test_aggregates',)

REGEX = (r'^tempest\.(api\.compute\.servers\.'
         r'|api\.compute\.admin\.(%s)\.'
         r'|serial_tests\.api\.compute\.admin\.(%s)\.)' % (
             '|'.join(ADMIN_MODULES), '|'.join(SERIAL_MODULES)))

# Test (module.Class.method, or module) -> what it needs that the lab has
# not, with nova-ha or without.
EXCLUDED = {
    'servers.test_create_server_multi_nic':
        'project networks and bound ports',
    'servers.test_server_addresses.ServerAddressesTestJSON.'
    'test_list_server_addresses': 'a server with an address',
    'servers.test_server_rescue.ServerRescueTestJSONUnderV235.'
    'test_rescued_vm_add_remove_security_group': 'a server with ports',
    'servers.test_server_actions.ServerActionsTestOtherA.'
    'test_remove_server_all_security_groups': 'a server with ports',
    'servers.test_server_actions.ServerActionsTestOtherB.'
    'test_get_console_output_with_unlimited_size':
        'more than the fake console\'s 3 lines',
    'admin.test_hypervisor.HypervisorAdminTestJSON.'
    'test_get_hypervisor_uptime': 'a driver with uptime',
}
# A test id is module.Class.method[attributes]: a name ends at "[", ".",
# or the end of the id.
EXCLUDE_REGEX = r'^tempest\.api\.compute\.(%s)(\[|\.|$)' % '|'.join(
    re.escape(name) for name in sorted(EXCLUDED))

RUN_TIMEOUT = 7200
LIST_TIMEOUT = 300

# The facts of the cloud that the configuration needs (see lookup()).
CloudFacts = collections.namedtuple('CloudFacts', (
    'image', 'image_alt', 'flavor', 'flavor_alt', 'network_extensions',
    'min_microversion', 'max_microversion'))

IMAGE = 'lab-tiny'
FLAVOR = 'lab.tiny'
FLAVOR_ALT = 'lab.small'    # larger than FLAVOR: resizes go to it


# -- the workspace and its configuration ---------------------------------

def workspace_dir(layout):
    return layout.path(WORKSPACE)


def conf_path(workspace):
    return os.path.join(workspace, 'etc', 'tempest.conf')


def lookup(layout):
    """The CloudFacts of the running lab, through openstacksdk with the
    lab's clouds.yaml (read only)."""
    from nova_ha_lab import cloud as lab_cloud
    conn = lab_cloud.connect(layout)
    image = conn.image.find_image(IMAGE, ignore_missing=False)
    flavors = {flavor.name: flavor.id
               for flavor in conn.compute.flavors(is_public=None)}
    missing = [name for name in (FLAVOR, FLAVOR_ALT) if name not in flavors]
    if missing:
        raise LookupError('lab flavor(s) missing: %s' % ', '.join(missing))
    extensions = sorted(ext.alias for ext in conn.network.extensions())
    endpoint = conn.compute.get_endpoint_data()
    return CloudFacts(
        image=image.id, image_alt=image.id,
        flavor=flavors[FLAVOR], flavor_alt=flavors[FLAVOR_ALT],
        network_extensions=extensions,
        min_microversion=_version(endpoint.min_microversion,
                                  NOVA_MIN_MICROVERSION),
        max_microversion=_version(endpoint.max_microversion,
                                  NOVA_MAX_MICROVERSION))


def _version(discovered, default):
    if not discovered:
        return default
    return '%d.%d' % tuple(discovered[:2])


def hosts_to_avoid(layout):
    """The common name suffix of the reserved hosts when it names no other
    host (Tempest's ``target_hosts_to_avoid`` is one substring), else
    None."""
    reserved = [host.name for host in layout.hosts if host.reserved]
    if not reserved:
        return None
    suffix = os.path.commonprefix([name[::-1] for name in reserved])[::-1]
    if not suffix or any(suffix in host.name for host in layout.hosts
                         if not host.reserved):
        return None
    return suffix


def ordinary_hosts(layout):
    return [host for host in layout.hosts if not host.reserved]


def tempest_conf(layout, facts, workspace):
    """tempest.conf of the lab (a configs.Ini); ``facts`` a CloudFacts."""
    ini = configs.Ini()
    ini.update('DEFAULT', {
        'log_dir': os.path.join(workspace, 'logs'),
        'log_file': 'tempest.log',
    })
    ini.update('oslo_concurrency', {
        'lock_path': os.path.join(workspace, 'tempest_lock')})
    ini.update('auth', {
        'admin_username': lab_layout.ADMIN_USER,
        'admin_password': lab_layout.ADMIN_PASSWORD,
        'admin_project_name': lab_layout.ADMIN_PROJECT,
        'admin_domain_name': configs.DEFAULT_DOMAIN,
        'default_credentials_domain_name': configs.DEFAULT_DOMAIN,
        'use_dynamic_credentials': True,
        'create_isolated_networks': False,
    })
    ini.update('identity', {
        'auth_version': 'v3',
        'uri_v3': layout.auth_url,
        'region': lab_layout.REGION,
        'v3_endpoint_type': 'public',
    })
    ini.update('identity-feature-enabled', {'api_v2': False, 'api_v3': True})
    compute = {
        'image_ref': facts.image,
        'image_ref_alt': facts.image_alt,
        'flavor_ref': facts.flavor,
        'flavor_ref_alt': facts.flavor_alt,
        'region': lab_layout.REGION,
        'endpoint_type': 'publicURL',
        'min_compute_nodes': len(ordinary_hosts(layout)),
        'min_microversion': facts.min_microversion,
        'max_microversion': facts.max_microversion,
    }
    avoid = hosts_to_avoid(layout)
    if avoid:
        compute['target_hosts_to_avoid'] = avoid
    ini.update('compute', compute)
    ini.update('compute-feature-enabled', {
        # What Nova's fake driver does.
        'resize': True,
        'cold_migration': True,
        'live_migration': True,
        'block_migration_for_live_migration': True,
        'can_migrate_between_any_hosts': True,
        'live_migrate_back_and_forth': False,
        'shelve_migrate': False,
        'pause': True,
        'suspend': True,
        'shelve': True,
        'rescue': True,
        'stable_rescue': False,
        'change_password': True,
        'console_output': True,
        'disk_config': True,
        'hostname_fqdn_sanitization': True,
        'enable_instance_password': True,
        'personality': False,
        # The fake driver uploads no image data: a snapshot stays queued.
        'snapshot': False,
        # No consoles: the lab's nova-computes disable VNC.
        'vnc_console': False,
        'spice_console': False,
        'serial_console': False,
        # No networks, no volumes.
        'interface_attach': False,
        'attach_encrypted_volume': False,
        'swap_volume': False,
        'volume_backed_live_migration': False,
        'volume_multiattach': False,
        'unified_limits': False,
    })
    ini.update('service_available', {
        'nova': True,
        'glance': True,
        'neutron': True,
        'cinder': False,
        'swift': False,
        'horizon': False,
    })
    ini.update('validation', {'run_validation': False})
    ini.update('network', {
        'region': lab_layout.REGION,
        'shared_physical_network': False,
    })
    ini.update('network-feature-enabled', {
        'api_extensions': list(facts.network_extensions) or 'none',
        'floating_ips': False,
        'ipv6': False,
    })
    ini.update('image', {'region': lab_layout.REGION})
    ini.update('image-feature-enabled', {'api_v2': True})
    ini.update('enforce_scope', {'nova': False})
    return ini


def stestr_conf(tempest_dir=None):
    """.stestr.conf of a Tempest workspace: Tempest's test discovery,
    one group per test class."""
    tempest_dir = tempest_dir or _tempest_package()
    return ('[DEFAULT]\n'
            'test_path=%s\n'
            'top_dir=%s\n'
            'group_regex=([^\\.]*\\.)*\n' % (
                os.path.join(tempest_dir, 'test_discover'),
                os.path.dirname(tempest_dir)))


def _tempest_package():
    spec = importlib.util.find_spec('tempest')
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError('tempest is not installed (lab/requirements.txt)')
    return list(spec.submodule_search_locations)[0]


def write_config(layout, workspace=None, facts=None, init_repo=True):
    """Make the Tempest workspace (default ``<lab>/tempest``) and write its
    etc/tempest.conf; ``facts`` (a CloudFacts) are looked up in the lab
    when not given.  Returns the workspace."""
    workspace = os.path.abspath(workspace or workspace_dir(layout))
    if facts is None:
        facts = lookup(layout)
    for sub in ('etc', 'logs', 'tempest_lock'):
        os.makedirs(os.path.join(workspace, sub), exist_ok=True)
    tempest_conf(layout, facts, workspace).write(conf_path(workspace))
    with open(os.path.join(workspace, '.stestr.conf'), 'w') as out:
        out.write(stestr_conf())
    if init_repo and not os.path.isdir(os.path.join(workspace, '.stestr')):
        # stestr makes its repository in the current directory.
        subprocess.run([lab_procs.executable('stestr'), 'init'],
                       cwd=workspace, check=True, capture_output=True,
                       timeout=60)
    return workspace


# -- running and reading the results -------------------------------------

def argv(workspace, concurrency=2, list_tests=False, regex=REGEX,
         exclude_regex=EXCLUDE_REGEX):
    """The ``tempest run`` command line (run it in the workspace)."""
    command = [lab_procs.executable('tempest'), 'run',
               '--config-file', conf_path(workspace), '--regex', regex]
    if exclude_regex:
        command += ['--exclude-regex', exclude_regex]
    if list_tests:
        return command + ['--list-tests']
    return command + ['--concurrency', str(concurrency)]


def list_tests(workspace, timeout=LIST_TIMEOUT):
    """The ids of the selected tests (needs the workspace, not the cloud)."""
    proc = subprocess.run(argv(workspace, list_tests=True), cwd=workspace,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0 or 'Failed to import test module' in proc.stdout:
        raise RuntimeError('tempest --list-tests failed (%d):\n%s%s' % (
            proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
    return [line.strip() for line in proc.stdout.splitlines()
            if line.startswith('tempest.')]


def count_by_module(test_ids):
    """{module: number of tests} of test ids (module.Class.method[...])."""
    counts = collections.Counter()
    for test_id in test_ids:
        name = test_id.split('[', 1)[0]
        counts[name.rsplit('.', 2)[0]] += 1
    return dict(sorted(counts.items()))


_TOTALS = {
    'ran': re.compile(r'^Ran: (\d+) tests? in ', re.M),
    'passed': re.compile(r'^ - Passed: (\d+)$', re.M),
    'skipped': re.compile(r'^ - Skipped: (\d+)$', re.M),
    'expected_fail': re.compile(r'^ - Expected Fail: (\d+)$', re.M),
    'unexpected_success': re.compile(r'^ - Unexpected Success: (\d+)$',
                                     re.M),
    'failed': re.compile(r'^ - Failed: (\d+)$', re.M),
}
# stestr's trace of one test: "{worker} name [duration] ... ok|FAILED",
# "{worker} name ... SKIPPED: reason" (a setUpClass failure names its
# class: "setUpClass (module.Class)").
_RESULT = re.compile(
    r'^\{\d+\} (?P<name>.+?)(?: \[[^\]]*\])? \.\.\. '
    r'(?P<status>ok|FAILED|SKIPPED)\b', re.M)


def parse_output(text):
    """Counts and failing tests of a ``tempest run`` output: the Totals
    block when the run finished, else the per-test lines seen so far.

    {'passed', 'failed', 'skipped', 'expected_fail', 'unexpected_success',
    'ran': int, 'failing': [names], 'complete': bool}"""
    results = [(m.group('name'), m.group('status'))
               for m in _RESULT.finditer(text)]
    failing = []
    for name, status in results:
        if status == 'FAILED' and name not in failing:
            failing.append(name)
    summary = {'failing': failing}
    totals = {key: pattern.findall(text) for key, pattern in _TOTALS.items()}
    if all(totals.values()):
        # The last Totals block (stestr prints one per run).
        summary.update({key: int(found[-1]) for key, found in totals.items()})
        summary['complete'] = True
        return summary
    statuses = collections.Counter(status for _, status in results)
    summary.update({
        'passed': statuses['ok'],
        'failed': statuses['FAILED'],
        'skipped': statuses['SKIPPED'],
        # Not told apart from ok and FAILED by the per-test lines.
        'expected_fail': 0,
        'unexpected_success': 0,
        'ran': len(results),
        'complete': False,
    })
    return summary


def run(layout, concurrency=2, timeout=RUN_TIMEOUT, workspace=None,
        regex=REGEX, exclude_regex=EXCLUDE_REGEX):
    """Run the selection in the workspace (write_config first), bounded by
    ``timeout`` seconds; parse_output's dict plus 'returncode' (None on a
    timeout), 'timed_out', 'seconds' and 'log' (the run's output file)."""
    workspace = os.path.abspath(workspace or workspace_dir(layout))
    log = os.path.join(workspace, 'logs', RUN_LOG)
    started = time.monotonic()
    timed_out = False
    with open(log, 'w') as out:
        # Its own process group: a timeout ends Tempest and its workers.
        proc = subprocess.Popen(argv(workspace, concurrency, regex=regex,
                                     exclude_regex=exclude_regex),
                                cwd=workspace,
                                stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL,
                                process_group=0)
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            returncode = None
            _end_group(proc)
    with open(log, errors='replace') as output:
        summary = parse_output(output.read())
    summary.update({'returncode': returncode, 'timed_out': timed_out,
                    'seconds': time.monotonic() - started, 'log': log})
    return summary


def _end_group(proc, grace=10):
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def summary_line(summary):
    return 'tempest: passed %d, failed %d, skipped %d (regex %s; ' \
        'exclude-regex %s)' % (summary['passed'], summary['failed'],
                               summary['skipped'], REGEX, EXCLUDE_REGEX)


def ok(summary):
    """No test failed and the run finished."""
    return (summary['failed'] == 0 and not summary['failing']
            and summary.get('unexpected_success', 0) == 0
            and summary['complete'] and not summary.get('timed_out'))


# -- nova-ha-lab tempest ---------------------------------------------------

def add_arguments(parser):
    """The options of ``nova-ha-lab tempest``."""
    parser.add_argument('--concurrency', type=int, default=2,
                        help='Tempest workers (default 2)')
    parser.add_argument('--timeout', type=float, default=RUN_TIMEOUT,
                        help='seconds for the whole run (default %d)'
                        % RUN_TIMEOUT)
    parser.add_argument('--list', action='store_true',
                        help='only list the selected tests, by module')


def main(lab, args=None):
    """``nova-ha-lab tempest`` (``lab`` a cli.Lab): write the workspace,
    run, print the counts and the failing tests; 0 when no test failed."""
    layout = lab.layout
    workspace = write_config(layout)
    if getattr(args, 'list', False):
        tests = list_tests(workspace)
        for module, count in count_by_module(tests).items():
            print('%4d %s' % (count, module))
        print('tempest: %d tests selected (regex %s; exclude-regex %s)' % (
            len(tests), REGEX, EXCLUDE_REGEX))
        return 0
    summary = run(layout, concurrency=getattr(args, 'concurrency', 2),
                  timeout=getattr(args, 'timeout', RUN_TIMEOUT),
                  workspace=workspace)
    print(summary_line(summary), flush=True)
    for name in summary['failing']:
        print('  FAILED %s' % name)
    if summary['timed_out']:
        print('  timed out after %.0f s' % summary['seconds'])
    elif not summary['complete']:
        print('  no Totals in the output (tempest exited %s)'
              % summary['returncode'])
    print('  output: %s' % summary['log'], flush=True)
    return 0 if ok(summary) else 1
