"""The fencing ladder: which rung is to prove a failed host powered off.

A ladder (a segment's ``ha:fencing``, ``[engine] unsegmented_fencing`` for
the hosts in no segment) names rungs in the order they are tried:

=========  ==================================================================
rung       proves the host off by
=========  ==================================================================
bmc        its BMC powering it off and reporting it off
watchdog   its armed hardware watchdog, once the safe wait has passed
operator   an operator's attestation (``nova-ha host confirm-down``)
=========  ==================================================================

A rung is spent when it cannot prove this host off: no BMC is
configured, the BMC failed its attempts, the watchdog rung is not
possible for the host.  The current rung is the first one of the ladder
not spent; a BMC that does not answer is passed over while it does not
(it is still read, and its proof taken if it comes back).  The operator
rung waits for a person: the incident is parked with an alert.  An
attestation is accepted only where the ladder has the operator rung.
Pure: the core asks, the answers are rung names.
"""

BMC = 'bmc'
WATCHDOG = 'watchdog'
OPERATOR = 'operator'


def current(ladder, spent=(), passed=()):
    """The rung to try now: the first of ``ladder`` neither spent nor
    passed over; None when none is left."""
    for rung in ladder:
        if rung not in spent and rung not in passed:
            return rung
    return None


def accepts_attestation(ladder):
    return OPERATOR in ladder


def describe(ladder):
    return ' > '.join(ladder) or 'none'
