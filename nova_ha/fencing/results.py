"""What a fence returns, and how it fails: the types the drivers, the
shared procedure and the engine exchange (nova_ha.fencing.base
re-exports them with the driver contract)."""

import dataclasses
import enum


class PowerState(str, enum.Enum):
    """Power state of a host as its BMC reports it."""

    ON = 'on'
    OFF = 'off'
    UNKNOWN = 'unknown'


class FenceOutcome(str, enum.Enum):
    """How a fence ended.

    ``FENCED`` and ``ALREADY_OFF`` are positive proof that the host is off;
    ``NOT_FENCED`` is the no-op driver's answer (the operator chose not to
    fence this host, and the engine records that decision); ``FAILED``
    means there is no proof and the host's VMs must not be evacuated.
    """

    FENCED = 'fenced'
    ALREADY_OFF = 'already_off'
    NOT_FENCED = 'not_fenced'
    FAILED = 'failed'


@dataclasses.dataclass(frozen=True)
class FenceResult:
    """The record of one fence, safe to log and to store in the history.

    ``detail`` is written for an operator and never holds a secret;
    ``attempts`` counts power-off requests sent to the BMC.
    """

    host: str
    driver: str
    outcome: FenceOutcome
    power_state: PowerState
    detail: str
    elapsed_s: float
    attempts: int

    @property
    def confirmed_off(self):
        """True only when the BMC confirmed the host is powered off."""
        return self.outcome in (FenceOutcome.FENCED, FenceOutcome.ALREADY_OFF)

    def to_dict(self):
        return {
            'host': self.host,
            'driver': self.driver,
            'outcome': self.outcome.value,
            'power_state': self.power_state.value,
            'detail': self.detail,
            'elapsed_s': round(self.elapsed_s, 3),
            'attempts': self.attempts,
            'confirmed_off': self.confirmed_off,
        }


class FenceError(Exception):
    """A BMC operation failed; the message is safe to log (no secrets)."""


class BMCUnreachable(FenceError):
    """The BMC did not answer (network, wrong address or port, BMC down)."""


class BMCAuthError(FenceError):
    """The BMC refused the credentials (or the user's privilege)."""


class FenceConfigError(FenceError):
    """The host has no usable BMC configuration."""
