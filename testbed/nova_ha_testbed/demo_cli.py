"""nova-ha-demo: the HA story on an in-process Nova cloud.

Runs on embedded defaults: no configuration, no external services.
"""

import argparse
import dataclasses
import json
import logging
import os
import sys
import time
import traceback
import unittest


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='nova-ha-demo',
        description='Start an in-process Nova cloud with two failover '
                    'segments and nova-ha enabled, and show what it does.')
    parser.add_argument('--json', action='store_true',
                        help='print one JSON document instead of the story')
    args = parser.parse_args(argv)

    # Nova 34 services run on native threads; so does the demo cloud.
    os.environ.setdefault('OS_NOVA_DISABLE_EVENTLET_PATCHING', '1')
    from nova_ha_testbed import demo

    out = sys.stdout
    # The story is the output; Nova's own INFO chatter (kept by its test
    # fixtures while the cloud runs) would bury it.
    logging.getLogger('nova').setLevel(logging.WARNING)
    if not args.json:
        demo.DemoCloud.say = staticmethod(
            lambda line: (out.write(line + '\n'), out.flush()))
    started = time.monotonic()
    result = unittest.TestResult()
    demo.DemoCloud('test_demo').run(result)
    problems = result.errors + result.failures
    if problems:
        for _case, text in problems:
            sys.stderr.write(text)
        sys.stderr.write('nova-ha-demo: the demo cloud failed (above)\n')
        return 1
    report = demo.DemoCloud.report
    if args.json:
        doc = dataclasses.asdict(report)
        doc['elapsed_s'] = round(time.monotonic() - started, 1)
        json.dump(doc, out, indent=2, sort_keys=True)
        out.write('\n')
    else:
        out.write('\nDone in %.1f s.\n' % (time.monotonic() - started))
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except Exception:
        traceback.print_exc()
        sys.exit(1)
