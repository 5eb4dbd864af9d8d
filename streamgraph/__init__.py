"""streamgraph: MLRun serving graphs as stream processing on Kafka."""
