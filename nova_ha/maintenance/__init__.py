"""Maintenance mode: mark a host in Nova (HA silenced, nothing new scheduled
there), drain its VMs within its segment, and bring it back.

plan      what to do with each VM and what Nova's answers mean (pure)
mark      the per-host mark in Nova and its mutual exclusion with recovery
drain     carries a plan out with bounded concurrency and deadlines
progress  the progress bar on stderr
nova      what maintenance asks of Nova's API
cli       ``maintenance enter|exit|list`` (nova-ha and openstack ha)
"""
