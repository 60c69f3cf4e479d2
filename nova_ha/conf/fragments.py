"""nova-ha's nova.conf fragments, and a small ini model that keeps repeated keys.

etc/nova-ha/nova-services.conf.sample (every Nova service) and
nova-scheduler.conf.sample (the schedulers) are what an operator adds to
nova.conf.  The README quotes them, the DevStack plugin applies them and
the lab cloud writes them into its nova.conf files: all three read them
here, so they say the same.

    python -m nova_ha.conf.fragments FILE

prints one line per option of a fragment, ``section option value...``
(tab-separated; a multi-valued option has several values), for the
DevStack plugin's iniset_multiline.

Nova's options repeat keys (``available_filters``, the notify ``driver``),
which configparser cannot write; ``Ini`` keeps ordered (key, value) pairs
and renders the text itself.
"""

import os
import sys

FRAGMENT_SERVICES = 'nova-services.conf.sample'
FRAGMENT_SCHEDULER = 'nova-scheduler.conf.sample'


# -- a small ini model that keeps repeated keys ---------------------------

def _text(value):
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if value is None:
        return ''
    if isinstance(value, (list, tuple)):
        return ','.join(_text(v) for v in value)
    return str(value)


class Ini:
    """Ordered sections of ordered (key, value) pairs; a key may repeat
    (oslo.config's multi-valued options, uWSGI's ``env``)."""

    def __init__(self):
        self._sections = {}

    def sections(self):
        return list(self._sections)

    def items(self, section):
        return list(self._sections.get(section, ()))

    def get(self, section, key):
        """Every value of ``key`` in ``section``, in order (maybe [])."""
        return [v for k, v in self._sections.get(section, ()) if k == key]

    def first(self, section, key, default=None):
        values = self.get(section, key)
        return values[0] if values else default

    def add(self, section, key, value):
        """Append one value (a repeated key for multi-valued options)."""
        self._sections.setdefault(section, []).append((key, _text(value)))
        return self

    def set(self, section, key, value):
        """Make ``value`` the only value of ``key`` (where it stood)."""
        self.replace(section, key, [value])
        return self

    def replace(self, section, key, values):
        """Make ``values`` (a list) the values of ``key``, in place of the
        first old one (or at the end)."""
        pairs = self._sections.setdefault(section, [])
        new = [(key, _text(v)) for v in values]
        at = next((i for i, (k, _) in enumerate(pairs) if k == key), None)
        kept = [(k, v) for k, v in pairs if k != key]
        if at is None:
            kept.extend(new)
        else:
            at = sum(1 for k, _ in pairs[:at] if k != key)
            kept[at:at] = new
        self._sections[section] = kept
        return self

    def update(self, section, options):
        """``set`` every key of the mapping ``options``."""
        self._sections.setdefault(section, [])
        for key, value in options.items():
            self.set(section, key, value)
        return self

    def merge(self, other):
        """Take every key of ``other``: its values replace ours (all of
        them, so a multi-valued option keeps the other's list)."""
        for section in other.sections():
            self._sections.setdefault(section, [])
            done = set()
            for key, _ in other.items(section):
                if key not in done:
                    self.replace(section, key, other.get(section, key))
                    done.add(key)
        return self

    def render(self):
        chunks = []
        for section, pairs in self._sections.items():
            if not pairs:
                continue
            lines = ['[%s]' % section]
            lines.extend('%s = %s' % pair if pair[1] != '' else
                         '%s =' % pair[0] for pair in pairs)
            chunks.append('\n'.join(lines) + '\n')
        return '\n'.join(chunks)

    def write(self, path):
        write_file(path, self.render())
        return path


def parse_ini(text, name='<text>'):
    """An ``Ini`` of oslo.config-style text: ``[section]``, ``key = value``
    lines (a key may repeat), comments (# or ;) and blank lines."""
    ini = Ini()
    section = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in '#;':
            continue
        if raw[0].isspace():
            raise ValueError('%s:%d: continuation lines are not supported'
                             % (name, number))
        if line.startswith('[') and line.endswith(']'):
            section = line[1:-1].strip()
            ini._sections.setdefault(section, [])
            continue
        if section is None or '=' not in line:
            raise ValueError('%s:%d: not an option of a section: %r' % (
                name, number, raw))
        key, value = line.split('=', 1)
        ini.add(section, key.strip(), value.strip())
    return ini


def write_file(path, text, mode=0o640):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + '.tmp'
    with open(tmp, 'w') as out:
        out.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


# -- nova-ha's fragments --------------------------------------------------

def fragment_dir():
    """etc/nova-ha of the source tree, else of the installation
    (setup.cfg installs it under sys.prefix)."""
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = (
        os.path.join(here, os.pardir, os.pardir, 'etc', 'nova-ha'),
        os.path.join(sys.prefix, 'etc', 'nova-ha'),
    )
    for candidate in candidates:
        if os.path.isfile(os.path.join(candidate, FRAGMENT_SERVICES)):
            return os.path.normpath(candidate)
    raise FileNotFoundError('no %s in %s' % (
        FRAGMENT_SERVICES, ' or '.join(os.path.normpath(c)
                                       for c in candidates)))


def read_fragment(name):
    path = os.path.join(fragment_dir(), name)
    with open(path) as fragment:
        return parse_ini(fragment.read(), path)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.stderr.write('usage: python -m nova_ha.conf.fragments FILE\n')
        return 2
    with open(argv[0]) as fragment:
        ini = parse_ini(fragment.read(), argv[0])
    for section in ini.sections():
        done = set()
        for key, _ in ini.items(section):
            if key not in done:
                done.add(key)
                print('\t'.join([section, key] + ini.get(section, key)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
