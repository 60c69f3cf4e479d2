"""The OpenStack client plugin of nova-ha (``openstack ha ...``)."""
