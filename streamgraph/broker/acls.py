"""A typed ACL: who may do what on which topic, group, transactional id or the cluster.

    Acl("alice", "topic", "orders", "read")                   # User:alice may read `orders`
    Acl("alice", "group", "billing-", "read", pattern="prefixed")

`binding()` and `filter()` give confluent-kafka's AclBinding / AclBindingFilter, what
`AdminClient.create_acls` and `delete_acls` take. LocalKafka.grant/revoke use it, and so can
any other module that manages ACLs (a `streamgraph acls` command), with no Kafka enum in sight.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:  # confluent-kafka loads when an ACL is sent (13 MB a process would pay)
    from confluent_kafka.admin import (
        AclBinding,
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

ResourceKind = Literal["topic", "group", "transactional_id", "cluster"]
PatternKind = Literal["literal", "prefixed"]
Operation = Literal[
    "all",
    "read",
    "write",
    "create",
    "delete",
    "alter",
    "describe",
    "cluster_action",
    "describe_configs",
    "alter_configs",
    "idempotent_write",
]
OPERATIONS: tuple[str, ...] = get_args(Operation)
RESOURCE_KINDS: tuple[str, ...] = get_args(ResourceKind)
#: The one name of the cluster resource, as Kafka spells it.
CLUSTER_NAME = "kafka-cluster"

# librdkafka calls Kafka's CLUSTER resource type BROKER (both are type 4 on the wire)
_RESOURCE = {
    "topic": "TOPIC",
    "group": "GROUP",
    "transactional_id": "TRANSACTIONAL_ID",
    "cluster": "BROKER",
}


@dataclass(frozen=True)
class Acl:
    """Allow (or deny) `principal` the `operation` on the resource `resource`/`name`.

    `principal` is a user name ("alice") or a full principal ("User:alice"). `pattern`
    "prefixed" matches every resource whose name starts with `name`; `name` "*" with "literal"
    matches every resource of the kind. A cluster ACL's name is always "kafka-cluster".
    """

    principal: str
    resource: ResourceKind
    name: str
    operation: Operation
    pattern: PatternKind = "literal"
    allow: bool = True
    host: str = "*"

    def __post_init__(self) -> None:
        if self.resource not in RESOURCE_KINDS:
            raise ValueError(f"resource {self.resource!r}: use one of {RESOURCE_KINDS}")
        if self.operation not in OPERATIONS:
            raise ValueError(f"operation {self.operation!r}: use one of {OPERATIONS}")
        if self.pattern not in ("literal", "prefixed"):
            raise ValueError(f"pattern {self.pattern!r}: use 'literal' or 'prefixed'")
        if not self.name or not self.principal:
            raise ValueError("an ACL needs a principal and a resource name")
        if self.resource == "cluster" and self.name != CLUSTER_NAME:
            raise ValueError(f"the cluster resource is named {CLUSTER_NAME!r}, not {self.name!r}")
        if ":" not in self.principal:  # a bare user name: Kafka's principals are typed
            object.__setattr__(self, "principal", f"User:{self.principal}")

    def binding(self) -> AclBinding:
        """confluent-kafka's AclBinding (for `AdminClient.create_acls`)."""
        from confluent_kafka.admin import AclBinding

        return AclBinding(*self._fields())

    def filter(self) -> AclBindingFilter:
        """A filter matching exactly this ACL (for `AdminClient.delete_acls`)."""
        from confluent_kafka.admin import AclBindingFilter

        return AclBindingFilter(*self._fields())

    def _fields(
        self,
    ) -> tuple[ResourceType, str, ResourcePatternType, str, str, AclOperation, AclPermissionType]:
        from confluent_kafka.admin import (
            AclOperation,
            AclPermissionType,
            ResourcePatternType,
            ResourceType,
        )

        return (
            ResourceType[_RESOURCE[self.resource]],
            self.name,
            ResourcePatternType[self.pattern.upper()],
            self.principal,
            self.host,
            AclOperation[self.operation.upper()],
            AclPermissionType.ALLOW if self.allow else AclPermissionType.DENY,
        )


def topic_access(
    user: str, topic: str, group: str | None = None, *, pattern: PatternKind = "literal"
) -> list[Acl]:
    """What a plain producer and consumer of `topic` (in `group`) needs: read, write and
    describe on the topic, and read on the group."""
    acls = [Acl(user, "topic", topic, op, pattern) for op in ("read", "write", "describe")]
    if group is not None:
        acls.append(Acl(user, "group", group, "read", pattern))
    return acls


__all__ = [
    "CLUSTER_NAME",
    "OPERATIONS",
    "RESOURCE_KINDS",
    "Acl",
    "Operation",
    "PatternKind",
    "ResourceKind",
    "topic_access",
]
