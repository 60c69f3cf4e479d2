"""nova-ha's test suite.

Nova selects its concurrency mode when its test packages are first imported.
Nova 34 services run on native threads, so the suite does too (set
OS_NOVA_DISABLE_EVENTLET_PATCHING=0 to try eventlet), and Nova's functional
package is imported here, before any test module imports other Nova code.
"""

import os

os.environ.setdefault('OS_NOVA_DISABLE_EVENTLET_PATCHING', '1')

import nova.tests.functional  # noqa: E402,F401
