"""Options of the operator tools (maintenance, capacity, reports): issue 6."""

from oslo_config import cfg  # noqa: F401

OPTS = []


def register_opts(conf):
    pass


def list_opts():
    return {}
