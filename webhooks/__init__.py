"""Webhooks: reseller endpoints that events are POSTed to, signed by the Standard Webhooks
scheme, sent through the job table, never to an address inside our own network."""
