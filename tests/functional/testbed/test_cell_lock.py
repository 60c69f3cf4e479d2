"""The in-process cloud's cell lock lets a reader past a waiting writer.

Nova 34's CellDatabases fixture deadlocked a bench that booted 12 VMs at
once (see nova_ha_testbed.cloud.ReaderFirstCellLock): a reader was held
behind a waiting writer while it held what the current reader needed.
"""

from nova_ha_testbed import cloud  # noqa: I100  (imports Nova's test mode)

import threading
import unittest


class TestReaderFirstCellLock(unittest.TestCase):

    LOCK = cloud.ReaderFirstCellLock

    def test_a_reader_enters_while_a_writer_waits_for_the_first_one(self):
        lock = self.LOCK()
        first_reading = threading.Event()
        release_first = threading.Event()
        second_read = threading.Event()
        wrote = threading.Event()

        def first_reader():
            with lock.read_lock():
                first_reading.set()
                release_first.wait(10)

        def writer():
            with lock.write_lock():
                wrote.set()

        def second_reader():
            with lock.read_lock():
                second_read.set()

        threads = [threading.Thread(target=first_reader, daemon=True)]
        threads[0].start()
        self.assertTrue(first_reading.wait(5))
        threads.append(threading.Thread(target=writer, daemon=True))
        threads[1].start()
        # The writer is waiting for the first reader to leave.
        for _ in range(100):
            if lock._pending_writers:
                break
            threading.Event().wait(0.01)
        self.assertTrue(lock._pending_writers)
        threads.append(threading.Thread(target=second_reader, daemon=True))
        threads[2].start()
        try:
            # Nova's own lock makes this reader wait behind the writer.
            self.assertTrue(second_read.wait(5))
            self.assertFalse(wrote.is_set())
        finally:
            release_first.set()
        self.assertTrue(wrote.wait(5))     # and the writer still gets in
        for thread in threads:
            thread.join(5)



class TestTheCloudUsesIt(cloud.HACloudTestCase):

    TOPOLOGY = ()
    UNSEGMENTED_HOSTS = ('h1',)

    def test_cell_databases_fixture_has_the_reader_first_lock(self):
        cell_databases = [
            getattr(cleanup, '__self__', None)
            for cleanup, _args, _kwargs in self._cleanups]
        locks = [type(f._cell_lock) for f in cell_databases
                 if type(f).__name__ == 'CellDatabases']
        self.assertEqual([cloud.ReaderFirstCellLock], locks)
