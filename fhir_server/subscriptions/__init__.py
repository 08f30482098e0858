"""Subscriptions (http://hl7.org/fhir/R4/subscription.html) and the R4 backport of topic-based subscriptions
(http://hl7.org/fhir/uv/subscriptions-backport/).

- ``spec.py``: a Subscription resource read into what the server acts on;
- ``topics.py``: the SubscriptionTopics this server offers;
- ``hook.py``: checks on write; a ``requested`` subscription becomes ``active``;
- ``matcher.py``: the outbox consumer that matches committed changes to subscriptions;
- ``delivery.py``: the workers that send notifications (rest-hook, websocket), with retries;
- ``websocket.py``: the R4 websocket channel (bind-with-id);
- ``operations.py``: ``$status`` and ``$events``.
"""
