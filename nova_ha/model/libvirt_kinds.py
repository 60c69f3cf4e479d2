"""The kinds of libvirt VM failure, named for [libvirt_monitor] failure_events.

Kept apart from libvirt_events so that reading options (and generating the
sample config on a host without the libvirt binding) never imports libvirt.
"""

CRASHED = 'crashed'
STOPPED_FAILED = 'stopped-failed'
GUEST_PANIC = 'guest-panic'
WATCHDOG = 'watchdog'
IO_ERROR_PAUSE = 'io-error-pause'
IO_ERROR_REPORT = 'io-error-report'
IO_ERROR_IGNORE = 'io-error-ignore'
CONTROL_ERROR = 'control-error'

# kind -> the engine's cause (one of nova_ha.notifier.events'
# VM_FAILURE_CAUSES: tests/unit/compute_hooks/test_libvirt_events.py)
CAUSES = {
    CRASHED: 'crashed',
    STOPPED_FAILED: 'stopped_failed',
    GUEST_PANIC: 'guest_panic',
    WATCHDOG: 'watchdog',
    IO_ERROR_PAUSE: 'io_error',
    IO_ERROR_REPORT: 'io_error',
    IO_ERROR_IGNORE: 'io_error',
    CONTROL_ERROR: 'control_error',
}
FAILURE_KINDS = tuple(CAUSES)
# Not by default: io-error-ignore (QEMU ignored the error, the guest goes
# on unharmed) and control-error (libvirt lost its QEMU monitor, the guest
# may well be running; Nova's own handling covers it).
DEFAULT_FAILURE_KINDS = (CRASHED, STOPPED_FAILED, WATCHDOG, IO_ERROR_PAUSE,
                         IO_ERROR_REPORT, GUEST_PANIC)
