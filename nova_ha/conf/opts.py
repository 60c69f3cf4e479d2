"""Entry point for oslo-config-generator (namespace ``nova_ha``)."""

from nova_ha import conf


def list_opts():
    """Return a list of (group, options) pairs for every nova-ha option."""
    result = []
    for module in conf._MODULES:
        for group, opts in module.list_opts().items():
            result.append((group, opts))
    return result
