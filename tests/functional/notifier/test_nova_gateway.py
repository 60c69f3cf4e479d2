"""The engine's Nova gateway against real Nova (the in-process cloud)."""

from nova_ha_testbed import cloud  # noqa: I100  (imports Nova's test mode)

from nova_ha.notifier import nova as ha_nova


class TestForceDown(cloud.HACloudTestCase):

    def _gateway_counting_service_lists(self):
        nova = ha_nova.NovaGateway(self.sdk_connection())
        lists = []
        services = nova.compute.services

        def counted(*args, **kwargs):
            lists.append(kwargs)
            return services(*args, **kwargs)
        nova.compute.services = counted
        return nova, lists

    def _forced_down(self, host):
        return self.admin_api.get_services(
            host=host, binary='nova-compute')[0]['forced_down']

    def test_by_the_service_id_the_guard_read_is_one_call(self):
        nova, lists = self._gateway_counting_service_lists()
        service = next(s for s in nova.compute_services()
                       if s['host'] == 'a1')
        lists.clear()
        nova.force_down('a1', service_id=service['id'])
        self.assertTrue(self._forced_down('a1'))
        self.assertEqual([], lists)    # no lookup of the service

    def test_without_the_id_the_service_is_looked_up(self):
        nova, lists = self._gateway_counting_service_lists()
        nova.force_down('a1')
        self.assertTrue(self._forced_down('a1'))
        self.assertEqual(1, len(lists))
