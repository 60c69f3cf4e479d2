"""The promises of a host recovery, judged from the system's own records.

A fault test never asks the engine what it did: it reads Nova's migration
and server records and the history, and hands them to ``judge``, which is
pure (records in, verdict out) so that it can be tested on its own.

What ``judge`` checks, for the HA VMs that ran on the failed host:

* exactly one evacuation of each VM accepted by Nova (its migration
  records of type evacuation that did not fail); more is a duplicate;
* each VM in its state before the failure (ACTIVE, SHUTOFF, ERROR) on a
  host of its segment, or it is lost;
* no evacuation asked for, in the history or in Nova's records, before the
  history holds the proof that the host was powered off;
* every record of the incident carries a fencing token, the tokens of its
  steps never go back in time (a lease record, "lease lost", may come
  from the owner that lost it), and the steps that happen once (fenced, evacuating,
  the final state, each VM's move) are recorded once;
* the incident ends as expected (recovered; parked when no proof of
  power-off can be had) and no other incident of the host is left open.
"""

import dataclasses
import datetime

EVACUATION = 'evacuation'
FAILED_MIGRATION = ('error', 'failed')

# Nova's migration times have whole seconds in some databases; the history
# keeps microseconds.  A request is "before the proof" only beyond this.
NOVA_TIME_GRAIN = datetime.timedelta(seconds=1)


@dataclasses.dataclass
class Verdict:
    duplicates: int = 0         # VMs evacuated more than once
    lost: int = 0               # VMs not back as they were, in segment
    evacuations: int = 0        # evacuations Nova accepted in all
    violations: list = dataclasses.field(default_factory=list)

    @property
    def ok(self):
        return not self.violations

    def fail(self, text):
        self.violations.append(text)

    def to_dict(self):
        return {'duplicates': self.duplicates, 'lost': self.lost,
                'evacuations': self.evacuations,
                'violations': list(self.violations)}


def nova_time(text):
    """Nova's created_at ('2026-12-05T03:20:11.000000', UTC, naive)."""
    value = datetime.datetime.fromisoformat(text.replace('Z', ''))
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value


def accepted_evacuations(migrations):
    """VM id -> Nova's evacuation records of it that did not fail."""
    counts = {}
    for m in migrations:
        if m['migration_type'] == EVACUATION and \
                m['status'] not in FAILED_MIGRATION:
            counts.setdefault(m['instance_uuid'], []).append(m)
    return counts


def judge(vms, migrations, servers, records, incidents, segment_hosts,
          expect='recovered'):
    """``vms``: {id: status before the failure} of the HA VMs of the
    failed host; ``migrations``: Nova's os-migrations list; ``servers``:
    {id: Nova's server}; ``records``: the history's records of the
    incident, oldest first; ``incidents``: the host's incidents;
    ``segment_hosts``: where the VMs may run now; ``expect``: the
    incident's final state ('recovered', or 'parked' when no proof of
    power-off can be had and nothing may move)."""
    verdict = Verdict()
    evacuated = accepted_evacuations(migrations)
    ours = {vm: evacuated.get(vm, []) for vm in vms}
    verdict.evacuations = sum(len(m) for m in ours.values())
    _judge_moves(verdict, vms, ours, servers, segment_hosts, expect)
    _judge_proof(verdict, records, ours)
    _judge_records(verdict, records, vms)
    _judge_incidents(verdict, incidents, expect)
    return verdict


def _judge_moves(verdict, vms, ours, servers, segment_hosts, expect):
    for vm, before in sorted(vms.items()):
        moves = ours[vm]
        if len(moves) > 1:
            verdict.duplicates += 1
            verdict.fail('%s evacuated %d times (Nova: %s)' % (
                vm, len(moves), ', '.join(
                    '%s %s' % (m['created_at'], m['status'])
                    for m in moves)))
        if expect == 'parked':
            if moves:
                verdict.fail('%s evacuated without proof of power-off'
                             % vm)
            continue
        server = servers.get(vm) or {}
        status = server.get('status')
        host = server.get('OS-EXT-SRV-ATTR:host')
        if not moves or status != before or host not in segment_hosts:
            verdict.lost += 1
            verdict.fail('%s is %s on %s (was %s; %d evacuations)' % (
                vm, status, host, before, len(moves)))


def _transitions(records, to_state):
    return [r for r in records if r.kind == 'transition' and
            ('-> %s:' % to_state) in r.message]


def _judge_proof(verdict, records, ours):
    fenced = _transitions(records, 'fenced')
    requests = [r for r in records if r.kind == 'evacuate' and
                r.outcome == 'requested']
    created = [nova_time(m['created_at']) for moves in ours.values()
               for m in moves]
    if not fenced:
        if requests or created:
            verdict.fail('evacuations without a fence proof in the history')
        return
    proof = fenced[0].at
    early = [r for r in requests if r.at < proof]
    if early:
        verdict.fail('%d evacuation requests recorded before the fence '
                     'proof (%s)' % (len(early), proof.isoformat()))
    if created and min(created) + NOVA_TIME_GRAIN < proof:
        verdict.fail('Nova accepted an evacuation at %s, before the fence '
                     'proof at %s' % (min(created).isoformat(),
                                      proof.isoformat()))


def _judge_records(verdict, records, vms):
    unsigned = [r for r in records if r.token is None]
    if unsigned:
        verdict.fail('%d records of the incident carry no fencing token '
                     '(first: %s)' % (len(unsigned), unsigned[0].message))
    highest = 0
    for r in records:
        # A lease record is about ownership itself: an owner that finds
        # its lease gone says so under the generation it held, possibly
        # after another has taken over.  Every other record is a step.
        if r.token is None or r.kind == 'lease':
            continue
        if r.token < highest:
            verdict.fail('a record of generation %d after one of %d: %s'
                         % (r.token, highest, r.message))
        highest = max(highest, r.token)
    for state in ('fenced', 'evacuating', 'recovered', 'parked'):
        if len(_transitions(records, state)) > 1:
            verdict.fail('the move to %s is recorded %d times' % (
                state, len(_transitions(records, state))))
    done = {}
    for r in records:
        if r.kind == 'evacuate' and r.outcome == 'done' and r.instance:
            done[r.instance] = done.get(r.instance, 0) + 1
    for vm, count in sorted(done.items()):
        if count > 1:
            verdict.fail('the move of %s is recorded %d times' % (
                vm, count))


def _judge_incidents(verdict, incidents, expect):
    if not incidents:
        verdict.fail('no incident was opened')
        return
    last = incidents[-1]
    if last.state != expect:
        verdict.fail('the incident %s ended %s, not %s' % (
            last.key, last.state, expect))
    others = [i.key for i in incidents[:-1] if i.is_open]
    if others:
        verdict.fail('incidents left open: %s' % ', '.join(others))
