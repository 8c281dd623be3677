from celery import shared_task

from investigations.webhooks import services as webhooks

# Thin: the claim in webhook_deliver makes a task delivered twice send once; the attempts and their
# waits are counted in the database, not by Celery, and beat's sweep publishes the retries.


@shared_task(bind=True, acks_late=True, name="investigations.tasks.webhook_deliver")
def webhook_deliver(self, delivery_id):
    return webhooks.webhook_deliver(delivery_id=delivery_id)


@shared_task(bind=True, acks_late=True, name="investigations.tasks.webhook_sweep")
def webhook_sweep(self):
    return webhooks.webhook_sweep()
