"""The operator's commands over the history: ``nova-ha history`` and
``nova-ha incident ...`` (also under ``openstack ha``)."""
