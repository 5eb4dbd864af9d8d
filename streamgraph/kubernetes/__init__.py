"""Kubernetes manifests derived from a function's graph (`streamgraph manifests`).

Reading guide: `processes.py` lists what runs (a worker per function and child function, a
model worker per dedicated_process model, the gateway) with the consumer group and topics each
one reads; `environment.py` turns the settings into a ConfigMap and references to the
credentials' Secret (never its values); `workloads.py` makes the Deployments, Service,
PodDisruptionBudgets and the topic Job; `scaling.py` the KEDA ScaledObjects and
TriggerAuthentication; `strimzi.py` the KafkaTopic resources; `manifests.py` puts them together
and writes the YAML.
"""
