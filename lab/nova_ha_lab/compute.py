"""nova-compute of a lab host: Nova's own nova-compute, with the lab driver.

Nova 34 loads a virt driver only from its own package
(``nova.virt.<compute_driver>``), and out-of-tree drivers have always been
shipped into that namespace.  The lab ships none into Nova's files: this
entry point starts Nova's ``nova-compute`` main in its own start-up order,
after making ``nova_ha_lab.virt`` known as ``nova.virt.nova_ha_lab``
(``compute_driver = nova_ha_lab.LabDriver``).  Nothing of Nova is changed.

    python -m nova_ha_lab.compute --config-file nova.conf
"""

import sys

from nova.cmd import compute  # first: Nova's own start-up (monkey_patch)

from nova_ha_lab import virt

# = the module of configs.COMPUTE_DRIVER
DRIVER_MODULE = 'nova_ha_lab'


def main():
    sys.modules['nova.virt.' + DRIVER_MODULE] = virt
    sys.argv[0] = 'nova-compute'
    return compute.main()


if __name__ == '__main__':
    sys.exit(main())
