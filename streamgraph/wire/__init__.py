"""What the Kafka engine and the gateway share on the wire: the record format (`codec`),
producers that track their topics, private reply topics, and request/reply for synchronous
callers (`requester`). Neither side imports the other; both import this package."""
