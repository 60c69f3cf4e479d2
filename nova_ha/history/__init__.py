"""Durable history of nova-ha: what happened, and the state of recoveries.

See :mod:`nova_ha.history.store` for the API and ``nova-ha history`` for
the operator's view.
"""

from nova_ha.history.objects import CLOSED_STATES  # noqa: F401
from nova_ha.history.objects import HistoryRecord  # noqa: F401
from nova_ha.history.objects import Incident  # noqa: F401
from nova_ha.history.objects import Step  # noqa: F401
from nova_ha.history.store import HistoryStore  # noqa: F401
from nova_ha.history.store import HistoryUnavailable  # noqa: F401
from nova_ha.history.store import UnknownIncident  # noqa: F401
