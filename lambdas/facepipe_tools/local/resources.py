"""Create in the emulator what Terraform creates in AWS, from the same names (facepipe.names)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from facepipe import names as n
from facepipe.names import StackNames

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_sqs import SQSClient

    from facepipe.settings import Settings


@dataclass(frozen=True)
class Resources:
    request_queue_url: str
    request_dlq_url: str
    photo_queue_url: str
    photo_dlq_url: str
    response_queue_url: str
    table: str
    bucket: str
    ssm_parameter: str
    event_bus: str = ""
    events_queue_url: str = ""

    def settings(self, **overrides: Any) -> Settings:
        """The functions' settings pointed at these queues, table and bucket; ``overrides`` set the rest."""
        from facepipe.settings import Settings

        where = {
            "request_queue_url": self.request_queue_url,
            "response_queue_url": self.response_queue_url,
            "ddb_table_name": self.table,
            "s3_bucket_name": self.bucket,
        }
        return Settings(**{**where, **overrides})


def _arn(sqs: SQSClient, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def _queue_with_dlq(sqs: SQSClient, name: str, dlq_name: str, visibility: int, max_receive_count: int) -> tuple[str, str]:
    dlq = sqs.create_queue(QueueName=dlq_name, Attributes={"MessageRetentionPeriod": str(14 * 86400)})["QueueUrl"]
    redrive = json.dumps({"deadLetterTargetArn": _arn(sqs, dlq), "maxReceiveCount": max_receive_count})
    url = sqs.create_queue(
        QueueName=name, Attributes={"VisibilityTimeout": str(visibility), "RedrivePolicy": redrive, "SqsManagedSseEnabled": "true"}
    )["QueueUrl"]
    return url, dlq


def create_resources(
    session: boto3.session.Session,
    names: StackNames,
    *,
    endpoint_url: str | None = None,
    request_visibility: int = n.REQUEST_VISIBILITY_SECONDS,
    max_receive_count: int = n.MAX_RECEIVE_COUNT,
    photo_prefix: str = "photos/",
    pinecone_api_key: str = "local-pinecone-key",
    response_visibility: int = n.RESPONSE_VISIBILITY_SECONDS,
) -> Resources:
    """The queues, table, bucket and SSM parameter, through ``session`` (at ``endpoint_url`` when given)."""
    sqs = session.client("sqs", endpoint_url=endpoint_url)
    s3 = session.client("s3", endpoint_url=endpoint_url)
    ddb = session.client("dynamodb", endpoint_url=endpoint_url)
    ssm = session.client("ssm", endpoint_url=endpoint_url)
    request, request_dlq = _queue_with_dlq(sqs, names.request_queue, names.request_dlq, request_visibility, max_receive_count)
    photo, photo_dlq = _queue_with_dlq(sqs, names.photo_queue, names.photo_dlq, request_visibility, max_receive_count)
    # the response queue (docs/contracts.md, Response): short visibility, no redrive policy;
    # answers expire by retention
    response = sqs.create_queue(
        QueueName=names.response_queue,
        Attributes={
            "VisibilityTimeout": str(response_visibility),
            "MessageRetentionPeriod": str(n.RESPONSE_RETENTION_SECONDS),
            "SqsManagedSseEnabled": "true",
        },
    )["QueueUrl"]

    ddb.create_table(
        TableName=names.table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("PK", "SK", "GSI1PK", "GSI1SK")],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": n.PEOPLE_INDEX,
                "KeySchema": [{"AttributeName": "GSI1PK", "KeyType": "HASH"}, {"AttributeName": "GSI1SK", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    ddb.update_time_to_live(TableName=names.table, TimeToLiveSpecification={"Enabled": True, "AttributeName": n.TTL_ATTRIBUTE})

    s3.create_bucket(Bucket=names.bucket)
    s3.put_bucket_versioning(Bucket=names.bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_notification_configuration(
        Bucket=names.bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": _arn(sqs, photo),
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": photo_prefix}]}},
                }
            ]
        },
    )
    # the placeholder Terraform creates; scripts/set-pinecone-key.sh sets the real value
    ssm.put_parameter(Name=names.ssm_parameter, Type="SecureString", Value=pinecone_api_key, Overwrite=True)
    events_queue = _event_bus(session, names, endpoint_url)
    return Resources(
        request, request_dlq, photo, photo_dlq, response, names.table, names.bucket, names.ssm_parameter, names.event_bus, events_queue
    )


def _event_bus(session: boto3.session.Session, names: StackNames, endpoint_url: str | None) -> str:
    """The bus Terraform creates, and a tap on it (``facepipe watch``): a rule sending every
    facepipe event to a queue; the queue's URL."""
    sqs = session.client("sqs", endpoint_url=endpoint_url)
    events = session.client("events", endpoint_url=endpoint_url)
    events.create_event_bus(Name=names.event_bus)
    tap = sqs.create_queue(QueueName=names.events_queue, Attributes={"MessageRetentionPeriod": "3600"})["QueueUrl"]
    rule = f"{names.prefix}-watch"
    events.put_rule(Name=rule, EventBusName=names.event_bus, EventPattern=json.dumps({"source": ["facepipe"]}))
    events.put_targets(Rule=rule, EventBusName=names.event_bus, Targets=[{"Id": "watch", "Arn": _arn(sqs, tap)}])
    return tap
