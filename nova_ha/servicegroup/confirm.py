"""Confirm a host-down through a second channel before fencing: pure logic.

The coordination heartbeat says fast that a host stopped heartbeating; it
cannot tell a dead host from a host cut off from the coordination service.
Before fencing, the engine asks ``confirm_host_down`` with what the other
channels say: the BMC's power state, the host's segment peers over the
second network (see channels) and the age of Nova's own database
heartbeat of the compute service (``last_seen_up``, written through the
conductor every report_interval).  Decision table (first matching row):

====  =========  ============  ===========  ============  ========  ==========
rule  heartbeat  BMC power     peers        Nova DB beat  lost for  action
====  =========  ============  ===========  ============  ========  ==========
R1    present    any           any          any           -         ignore
R2    lost       off           any          any           -         fence
R10   lost       any           reachable    any           < max     wait
R11   lost       any           reachable    any           >= max    alert
R12   lost       on / None     unreachable  any           -         fence
====  =========  ============  ===========  ============  ========  ==========

Rows R3-R9 apply when the peers cannot see the host (no peers, too few
reports: ``peers=None``) or, for R6/R7, say it is silent:

====  =========  ============  ================  =========  ===================
rule  heartbeat  BMC power     Nova DB beat      lost for   action
====  =========  ============  ================  =========  ===================
R3    lost       on / None     fresh             < max      wait (blip)
R4    lost       on / None     fresh             >= max     alert (partition)
R5    lost       on / None     stale             -          fence
R6    lost       unknown       any               < max      wait
R7    lost       unknown       any               >= max     alert (no proof)
R8    lost       on / None     not known         < max      wait
R9    lost       on / None     not known         >= max     alert
====  =========  ============  ================  =========  ===================

- Peers that still hear the host (R10, R11): it lost its management or
  coordination network, not its life; its guests may well be serving.  It
  is never fenced on the other channels' word, however old Nova's
  heartbeat: an operator decides, or the host's own isolation response.
- Every channel silent (R12): both coordination heartbeats and a majority
  of its peers hear nothing, and the BMC says the power is on: the host
  hangs (or lost every network), which is a death for its guests.  Nova's
  heartbeat is not waited for: it is written only every report_interval.
- "BMC on" with Nova's heartbeat fresh: the host is powered and its
  nova-compute still reaches the conductor: only its link to the
  coordination service is broken.  Fencing it would kill a healthy host.
- "BMC unknown" (unreachable): a whole-host power loss and a partitioned
  rack look the same, and fencing cannot succeed; nothing may be evacuated
  without proof of power-off (DESIGN safety invariant), so an operator is
  alerted (they can force the service down themselves).
- ``bmc_power=None`` means no BMC was consulted (no fence driver, or the
  lab's no-op driver): Nova's heartbeat alone decides, as in R3-R5/R8-R9.
- "fence" is permission to run the fence driver, whose confirmed power-off
  is still required before any evacuation.
"""

import dataclasses

FENCE = 'fence'
WAIT = 'wait'
IGNORE = 'ignore'
ALERT = 'alert'

BMC_ON = 'on'
BMC_OFF = 'off'
BMC_UNKNOWN = 'unknown'
_BMC_VALUES = (BMC_ON, BMC_OFF, BMC_UNKNOWN, None)


@dataclasses.dataclass(frozen=True)
class ConfirmThresholds:
    """Grace periods of the confirmation (options in [ha_servicegroup])."""

    # Nova's DB heartbeat older than this means the compute cannot reach
    # the conductor either; keep above report_interval (10 s) plus jitter.
    nova_heartbeat_stale_s: float = 20.0
    # How long a lost host may stay unconfirmed before an operator is told.
    max_wait_s: float = 120.0

    @classmethod
    def from_conf(cls, conf):
        group = conf.ha_servicegroup
        return cls(nova_heartbeat_stale_s=group.confirm_nova_heartbeat_stale,
                   max_wait_s=group.confirm_max_wait)


@dataclasses.dataclass(frozen=True)
class Decision:
    action: str  # FENCE, WAIT, IGNORE or ALERT
    rule: str  # the row of the decision table, for the history
    reason: str


PEERS_REACHABLE = 'reachable'
PEERS_UNREACHABLE = 'unreachable'
_PEER_VALUES = (PEERS_REACHABLE, PEERS_UNREACHABLE, None)


def confirm_host_down(heartbeat_lost, bmc_power, nova_heartbeat_age_s,
                      lost_for_s=0.0, thresholds=ConfirmThresholds(),
                      peers=None):
    """Decide what to do about a host whose liveness heartbeat was lost.

    :param heartbeat_lost: the coordination membership says the host is down
    :param bmc_power: 'on', 'off', 'unknown' (BMC unreachable) or None (no
        BMC consulted)
    :param nova_heartbeat_age_s: seconds since Nova's DB heartbeat of the
        host's compute service (now - last_seen_up), None if not known
    :param lost_for_s: seconds since the heartbeat was lost
    :param thresholds: ConfirmThresholds
    :param peers: the peer channel's verdict: 'reachable', 'unreachable'
        or None (it cannot see the host)
    :returns: Decision(action, rule, reason)
    :raises ValueError: on a bmc_power or peers outside the values above
    """
    if bmc_power not in _BMC_VALUES:
        raise ValueError('bmc_power must be one of on/off/unknown/None, '
                         'not %r' % (bmc_power,))
    if peers not in _PEER_VALUES:
        raise ValueError('peers must be one of reachable/unreachable/None, '
                         'not %r' % (peers,))
    if not heartbeat_lost:
        return Decision(IGNORE, 'R1', 'host is heartbeating')
    if bmc_power == BMC_OFF:
        return Decision(FENCE, 'R2', 'heartbeat lost and the BMC reports '
                        'power off: fence to confirm off')
    overdue = lost_for_s >= thresholds.max_wait_s
    if peers == PEERS_REACHABLE:
        if overdue:
            return Decision(ALERT, 'R11', 'heartbeat lost for %.0fs while '
                            'its segment peers still hear it: the host is '
                            'isolated, not dead' % lost_for_s)
        return Decision(WAIT, 'R10', 'heartbeat lost but its segment peers '
                        'still hear it: isolated, not dead')
    if peers == PEERS_UNREACHABLE and bmc_power != BMC_UNKNOWN:
        return Decision(FENCE, 'R12', 'heartbeat lost, its segment peers '
                        'hear nothing and the BMC says power %s: every '
                        'channel is silent, the host hangs'
                        % (bmc_power or 'not read'))
    if bmc_power == BMC_UNKNOWN:
        if overdue:
            return Decision(ALERT, 'R7', 'heartbeat lost for %.0fs and the '
                            'BMC is unreachable: power-off cannot be '
                            'proven' % lost_for_s)
        return Decision(WAIT, 'R6', 'heartbeat lost and the BMC is '
                        'unreachable: retry the BMC')
    # BMC on, or no BMC consulted: Nova's own heartbeat decides.
    if nova_heartbeat_age_s is None:
        if overdue:
            return Decision(ALERT, 'R9', 'heartbeat lost for %.0fs and '
                            'Nova\'s heartbeat is unknown' % lost_for_s)
        return Decision(WAIT, 'R8', 'heartbeat lost; Nova\'s heartbeat '
                        'is unknown: read it again')
    if nova_heartbeat_age_s > thresholds.nova_heartbeat_stale_s:
        return Decision(FENCE, 'R5', 'heartbeat lost and Nova\'s heartbeat '
                        'is %.0fs old: the host is unresponsive'
                        % nova_heartbeat_age_s)
    if overdue:
        return Decision(ALERT, 'R4', 'heartbeat lost for %.0fs while the '
                        'host still reports to Nova: partition between the '
                        'host and the coordination service' % lost_for_s)
    return Decision(WAIT, 'R3', 'heartbeat lost but the host reported to '
                    'Nova %.0fs ago: likely a network blip'
                    % nova_heartbeat_age_s)
