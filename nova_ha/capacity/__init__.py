"""Failover capacity: can a segment absorb its largest hosts' failure, and
how many reserved hosts does it need for a target VM availability?

``model``    hosts, inventories, usages and VMs as plain data (pure)
``packing``  the failover simulation, VM by VM, with the scheduler's own
             placement rules (pure)
``planner``  the reserved-host planner: availability model and formula (pure)
``reader``   builds the model from Nova's API and placement (openstacksdk)
``cli``      ``nova-ha capacity check`` and ``nova-ha capacity plan``

See docs/operator/capacity.md for the models, their formulas and assumptions.
"""
