"""The engine's settings come from option names in one place, for the
daemon (nova-ha.conf) and the scenario folders (cloud.yaml) alike."""

from oslo_config import cfg
import pytest

from nova_ha import conf as ha_conf
from nova_ha.engine import core
from nova_ha.engine import settings


@pytest.fixture
def conf():
    config = cfg.ConfigOpts()
    for module in ha_conf._MODULES:
        module.register_opts(config)
    config([], project='nova-ha')
    return config


def test_the_shipped_options_are_the_settings_defaults(conf):
    assert settings.from_conf(conf) == core.Settings(
        fencing=settings.from_conf(conf).fencing)


def test_an_option_changes_the_setting_of_its_name(conf):
    overrides = (('vm_restart_backoff_max', 7.0, 'engine'),
                 ('confirm_max_wait', 33.0, 'ha_servicegroup'),
                 ('margin', 9.0, 'watchdog_rung'))
    for name, value, group in overrides:
        conf.set_override(name, value, group)
    try:
        got = settings.from_conf(conf)
    finally:
        # (Overrides outlive this ConfigOpts: the options are shared.)
        for name, _, group in overrides:
            conf.clear_override(name, group)
    assert got.vm_restart_backoff[1] == 7.0
    assert got.confirm.max_wait_s == 33.0
    assert got.watchdog.margin == 9.0
    assert got == settings.from_options({
        'vm_restart_backoff_max': 7.0, 'confirm_max_wait': 33.0,
        'watchdog_margin': 9.0, 'fencing': ','.join(got.fencing)})


def test_an_unknown_name_is_refused():
    with pytest.raises(settings.UnknownOption):
        settings.from_options({'reconcile_intervall': 1.0})
