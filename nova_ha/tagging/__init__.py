"""Operator commands for the HA metadata contract: tag and untag VMs
(``ha:enabled``, ``ha:priority``) and read or set a failover segment's policy
(``ha:recovery_method``, ``ha:enabled``, ``ha:evacuate_all``).

Values are validated against nova_ha.model, the one place that defines them.
"""
