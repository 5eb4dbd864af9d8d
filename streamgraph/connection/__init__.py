"""How streamgraph reaches a Kafka cluster: `kafka_security(settings)` (kafka_security.py) gives
every client library its security arguments; properties_file.py reads the client properties
file managed services hand out; refusals.py says what cannot work; token_provider.py wraps an
OAUTHBEARER token callable for aiokafka and librdkafka."""
