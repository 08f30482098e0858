"""The change feed (DESIGN.md: "the subscription outbox (LISTEN/NOTIFY + FOR UPDATE SKIP LOCKED)")."""
