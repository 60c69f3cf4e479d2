"""A small HTTP server that answers like nova-api, as slowly as a test
wants, and records every request that reached it.

openstacksdk and keystoneauth talk to it as to Nova (version discovery
included), so a test sees which requests the engine really sent and when.
"""

import http.server
import json
import threading
import time

from keystoneauth1 import noauth
from keystoneauth1 import session as ks_session
import openstack.connection

from nova_ha.notifier import nova as ha_nova

HOST = 'a1'
VM = 'vm-1'


class SlowNova:
    """An HTTP server answering like nova-api, each request after
    ``delay[(method, path prefix)]`` seconds; ``sent`` lists what
    reached it."""

    def __init__(self, test):
        self.delay = {}
        self.sent = []
        nova = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get('Content-Length') or 0)
                body = self.rfile.read(length) if length else b''
                nova.sent.append((self.command, self.path, body))
                time.sleep(nova._delay(self.command, self.path))
                status, doc = nova._document(self.path)
                data = json.dumps(doc).encode()
                try:
                    self.send_response(status)
                    self.send_header('Content-Type', 'application/json')
                    self.send_header('Content-Length', str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass        # the client gave up

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                      Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()
        test.addCleanup(self.server.server_close)
        test.addCleanup(self.server.shutdown)
        self.url = 'http://127.0.0.1:%d/v2.1' % self.server.server_port

    def _delay(self, method, path):
        for (verb, prefix), seconds in self.delay.items():
            if verb == method and path.startswith(prefix):
                return seconds
        return 0.0

    def _document(self, path):
        if path.rstrip('/') == '/v2.1':
            return 200, {'version': {
                'id': 'v2.1', 'status': 'CURRENT', 'version': '2.96',
                'min_version': '2.1',
                'links': [{'rel': 'self', 'href': self.url + '/'}]}}
        if path.startswith('/v2.1/servers/%s' % VM) and '/action' not in \
                path:
            return 200, {'server': {
                'id': VM, 'name': VM, 'status': 'ERROR',
                'OS-EXT-SRV-ATTR:host': HOST,
                'OS-EXT-STS:task_state': 'rebuilding', 'metadata': {}}}
        if path.startswith('/v2.1/os-migrations'):
            return 200, {'migrations': []}
        return 202, {}

    def posts(self):
        return [(path, body) for method, path, body in self.sent
                if method == 'POST']

    def gateway(self, timeout=5.0):
        session = ks_session.Session(auth=noauth.NoAuth(), timeout=timeout)
        return ha_nova.NovaGateway(openstack.connection.Connection(
            session=session, compute_endpoint_override=self.url,
            compute_api_version='2'))
