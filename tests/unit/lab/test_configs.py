"""The lab's configuration files: nova-ha's fragments in every nova.conf,
addresses from the layout, one value per option except multi-valued ones."""

import collections
import configparser
import importlib.util
import os
import tempfile
import unittest

import yaml

from nova_ha_lab import configs
from nova_ha_lab import layout as lab

# Options oslo.config reads as lists of repeated keys.
MULTI_VALUED = {
    ('oslo_messaging_notifications', 'driver'),
    ('filter_scheduler', 'available_filters'),
}

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


def repeated_keys(text):
    """(section, key) pairs written more than once in ``text``."""
    counts = collections.Counter()
    section = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith('['):
            section = line[1:-1]
        elif '=' in line:
            counts[(section, line.split('=', 1)[0].strip())] += 1
    return {key for key, count in counts.items() if count > 1}


class IniTest(unittest.TestCase):

    def test_repeated_keys_are_kept_in_order(self):
        ini = configs.parse_ini('[a]\nk = 1\nx = y\nk = 2\n')
        self.assertEqual(['1', '2'], ini.get('a', 'k'))
        self.assertEqual('[a]\nk = 1\nk = 2\nx = y\n',
                         configs.parse_ini(
                             '[a]\nk = 1\nk = 2\nx = y\n').render())

    def test_set_replaces_every_value_in_place(self):
        ini = configs.parse_ini('[a]\nk = 1\nx = y\nk = 2\n')
        ini.set('a', 'k', 3)
        self.assertEqual([('k', '3'), ('x', 'y')], ini.items('a'))

    def test_merge_takes_the_others_whole_list(self):
        ini = configs.parse_ini('[a]\nk = 1\nk = 2\nkeep = me\n')
        ini.merge(configs.parse_ini('[a]\nk = 3\n[b]\nz = 4\n'))
        self.assertEqual(['3'], ini.get('a', 'k'))
        self.assertEqual(['me'], ini.get('a', 'keep'))
        self.assertEqual(['4'], ini.get('b', 'z'))

    def test_values_are_rendered_as_oslo_config_reads_them(self):
        ini = configs.Ini()
        ini.update('s', {'t': True, 'f': False, 'n': -1, 'l': ['a', 'b'],
                         'e': ''})
        self.assertEqual('[s]\nt = true\nf = false\nn = -1\nl = a,b\ne =\n',
                         ini.render())

    def test_comments_and_blank_lines_are_skipped(self):
        ini = configs.parse_ini('# c\n\n[a]\n; c\n#k = 0\nk = v\n')
        self.assertEqual([('k', 'v')], ini.items('a'))

    def test_malformed_text_is_refused(self):
        for text in ('k = v\n', '[a]\nno equals sign\n',
                     '[a]\nk = v\n  continued\n'):
            with self.assertRaises(ValueError):
                configs.parse_ini(text)


class ConfigsTest(unittest.TestCase):

    def setUp(self):
        self.layout = lab.Layout(base='/lab-test', db_prefix='t_')
        self.control = configs.nova_control_ini(self.layout)
        self.scheduler = configs.nova_control_ini(self.layout,
                                                  scheduler=True)
        self.computes = {h.name: configs.compute_nova_ini(self.layout, h)
                         for h in self.layout.hosts}

    def nova_confs(self):
        yield 'control', self.control
        yield 'scheduler', self.scheduler
        yield from self.computes.items()

    def test_every_nova_conf_turns_nova_ha_on(self):
        for name, ini in self.nova_confs():
            with self.subTest(name):
                self.assertEqual(['nova_ha'],
                                 ini.get('DEFAULT', 'servicegroup_driver'))
                self.assertEqual(
                    ['nova_ha_loader', 'nova_ha_forward'],
                    ini.get('oslo_messaging_notifications', 'driver'))
                self.assertEqual(['versioned'], ini.get(
                    'notifications', 'notification_format'))
                self.assertEqual(['vm_and_task_state'], ini.get(
                    'notifications', 'notify_on_state_change'))
                self.assertEqual([self.layout.redis_url],
                                 ini.get('ha_servicegroup', 'backend_url'))

    def test_nova_ha_settings_are_the_fragments(self):
        fragment = configs.read_fragment(configs.FRAGMENT_SERVICES)
        for name, ini in self.nova_confs():
            for section in fragment.sections():
                for key, _ in fragment.items(section):
                    if (section, key) == ('ha_servicegroup', 'backend_url'):
                        continue
                    with self.subTest(name=name, option=(section, key)):
                        self.assertEqual(fragment.get(section, key),
                                         ini.get(section, key))
        scheduler = configs.read_fragment(configs.FRAGMENT_SCHEDULER)
        for section in scheduler.sections():
            for key, _ in scheduler.items(section):
                self.assertEqual(scheduler.get(section, key),
                                 self.scheduler.get(section, key))

    def test_fragments_name_registered_notify_drivers(self):
        setup = configparser.ConfigParser()
        setup.read(os.path.join(ROOT, 'setup.cfg'))
        drivers = setup.get('entry_points', 'oslo.messaging.notify.drivers')
        for driver in self.control.get('oslo_messaging_notifications',
                                       'driver'):
            self.assertIn('%s = ' % driver, drivers)

    def test_only_the_scheduler_gets_the_scheduler_fragment(self):
        self.assertEqual(
            ['nova.scheduler.filters.all_filters',
             'nova_ha.scheduler.filters.all_filters'],
            self.scheduler.get('filter_scheduler', 'available_filters'))
        self.assertIn('HAReservedHostFilter', self.scheduler.first(
            'filter_scheduler', 'enabled_filters'))
        self.assertIn('HAFailoverWeigher', self.scheduler.first(
            'filter_scheduler', 'weight_classes'))
        for name, ini in self.nova_confs():
            if name != 'scheduler':
                self.assertEqual([], ini.get('filter_scheduler',
                                             'available_filters'), name)

    def test_compute_conf_names_its_host(self):
        for host in self.layout.hosts:
            ini = self.computes[host.name]
            state = self.layout.host_dir(host.name)
            with self.subTest(host.name):
                self.assertEqual([host.name], ini.get('DEFAULT', 'host'))
                self.assertEqual([host.address], ini.get('DEFAULT', 'my_ip'))
                self.assertEqual([state], ini.get('DEFAULT', 'state_path'))
                self.assertEqual([configs.COMPUTE_DRIVER],
                                 ini.get('DEFAULT', 'compute_driver'))
                self.assertTrue(ini.first('oslo_concurrency',
                                          'lock_path').startswith(state))
                # The bridge relay, not loopback: the host is a netns.
                self.assertEqual([self.layout.transport_url()],
                                 ini.get('DEFAULT', 'transport_url'))
                # nova-compute never touches a database.
                self.assertEqual([], ini.get('database', 'connection'))
                self.assertEqual([], ini.get('api_database', 'connection'))
        locks = {ini.first('oslo_concurrency', 'lock_path')
                 for ini in self.computes.values()}
        self.assertEqual(len(self.layout.hosts), len(locks))

    def test_addresses_come_from_the_layout(self):
        layout = self.layout
        self.assertEqual([layout.transport_url(local=True)],
                         self.control.get('DEFAULT', 'transport_url'))
        self.assertEqual([layout.database_url('nova')],
                         self.control.get('database', 'connection'))
        self.assertEqual([layout.database_url('nova_api')],
                         self.control.get('api_database', 'connection'))
        for name, ini in self.nova_confs():
            for section in ('placement', 'neutron'):
                self.assertEqual([layout.auth_url],
                                 ini.get(section, 'auth_url'), name)
        for name, ini in (
                ('keystone', configs.keystone_ini(layout)),
                ('placement', configs.placement_ini(layout)),
                ('glance', configs.glance_ini(layout)),
                ('neutron', configs.neutron_ini(layout))):
            with self.subTest(name):
                group = ('placement_database' if name == 'placement' else
                         'database')
                self.assertEqual([layout.database_url(name)],
                                 ini.get(group, 'connection'))
                if name != 'keystone':
                    self.assertEqual(
                        [layout.url('keystone')],
                        ini.get('keystone_authtoken', 'auth_url'))
                    self.assertEqual(
                        [name], ini.get('keystone_authtoken', 'username'))
        self.assertIn('/t_nova?', layout.database_url('nova'))

    def test_uwsgi_serves_each_api_on_its_port(self):
        for name, port in configs.API_PORTS.items():
            ini = configs.uwsgi_ini(self.layout, name)
            with self.subTest(name):
                self.assertEqual(
                    ['%s:%d' % (lab.BRIDGE_ADDRESS, lab.PORTS[port])],
                    ini.get('uwsgi', 'http-socket'))
                self.assertEqual(['1'], ini.get('uwsgi', 'processes'))
                self.assertEqual(['2'], ini.get('uwsgi', 'threads'))
                self.assertEqual(['true'], ini.get('uwsgi', 'die-on-term'))
                self.assertEqual([configs.WSGI_APPS[name][0]],
                                 ini.get('uwsgi', 'module'))
                env = configs.uwsgi_env(self.layout, name)
                self.assertEqual([configs.WSGI_APPS[name][1]], list(env))


class WriteAllTest(unittest.TestCase):

    @unittest.skipIf(
        None in (importlib.util.find_spec('glance'),
                 importlib.util.find_spec('neutron')),
        'glance and neutron are not installed (lab/requirements.txt; the '
        'fast tier\'s light install has no lab packages): their paste files '
        'are copied')
    def test_files_are_written_without_repeated_options(self):
        with tempfile.TemporaryDirectory() as base:
            layout = lab.Layout(base=base)
            paths = configs.write_all(layout)
            written = [paths[role] for role in (
                'keystone', 'placement', 'glance', 'neutron', 'ml2',
                'nova', 'nova_scheduler')]
            written += [configs.uwsgi_ini_path(layout, name)
                        for name in configs.WSGI_APPS]
            written += [configs.compute_conf_path(layout, host.name)
                        for host in layout.hosts]
            for path in written:
                with open(path) as conf:
                    text = conf.read()
                allowed = set(MULTI_VALUED)
                if '/uwsgi/' in path:
                    allowed = set()
                self.assertEqual(set(), repeated_keys(text) - allowed, path)
            for role in ('glance_paste', 'neutron_paste', 'nova_paste'):
                self.assertTrue(os.path.isfile(paths[role]), role)
            # Each API finds its files in the directory its variable names.
            for name, expected in (('keystone', 'keystone.conf'),
                                   ('placement', 'placement.conf'),
                                   ('glance', 'glance-api.conf'),
                                   ('neutron', 'neutron.conf'),
                                   ('nova-api', 'api-paste.ini')):
                directory, = configs.uwsgi_env(layout, name).values()
                self.assertTrue(os.path.isfile(
                    os.path.join(directory, expected)), name)
            with open(layout.clouds_yaml) as clouds:
                cloud = yaml.safe_load(clouds)['clouds']['lab']
            self.assertEqual(layout.auth_url, cloud['auth']['auth_url'])
            self.assertEqual(lab.ADMIN_USER, cloud['auth']['username'])
            self.assertEqual(lab.REGION, cloud['region_name'])
            self.assertEqual(0o600, os.stat(layout.clouds_yaml).st_mode
                             & 0o777)

    def test_compute_nova_conf_returns_its_path(self):
        with tempfile.TemporaryDirectory() as base:
            layout = lab.Layout(base=base)
            host = layout.host('b1')
            path = configs.compute_nova_conf(layout, host)
            with open(path) as conf:
                ini = configs.parse_ini(conf.read())
            self.assertEqual(['b1'], ini.get('DEFAULT', 'host'))
