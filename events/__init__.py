"""The event log: what happened to billing objects, one row per change, written in the
transaction of the change; and the webhook endpoints its events are delivered to."""
