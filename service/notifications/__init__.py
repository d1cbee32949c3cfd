"""Signed webhooks: events (`job.succeeded`, `job.failed`, `daily.missed`) delivered in the background.

`events` builds the event JSON and signs it, `notifier.Notifier` stores one delivery per event and
URL and sends it from one daemon worker thread with retries; the store is the queue, so pending
deliveries survive a restart. `missed.check_missed` finds organizations without yesterday's report.
"""

from service.notifications.events import sign
from service.notifications.notifier import Notifier

__all__ = ["Notifier", "sign"]
