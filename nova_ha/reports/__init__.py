"""Availability and recovery reports from the history.

``availability``  outages (VM down from failure to ACTIVE again) and their
                  sums per VM and per segment over a period (pure)
``timeline``      the states and steps of one incident as timed rows (pure)
``source``        reads outages and timelines from the HistoryStore
``chart``         the incident timeline as a PNG (matplotlib, Agg)
``cli``           ``nova-ha report availability`` / ``report timeline``

See docs/operator/reports.md.
"""
