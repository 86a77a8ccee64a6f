"""Queue plumbing the recognition function needs beyond send_message: reasoned dead letters.

A record that can never succeed (bad schema, undecodable crop), or that fails on its
last allowed receive, is sent to its source queue's DLQ by the handler itself with
the reason as message attributes, then reported as done: every accepted request
ends in one response or in a DLQ with its reason. The DLQ and maxReceiveCount are
read from the source queue's redrive policy (one GetQueueAttributes per container).
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from facepipe import aws

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

REASON = "facepipe-reason"
#: a dead letter is the record's last word: its send is tried this many times (beyond botocore's retries)
SEND_TRIES = 3
ERROR = "facepipe-error"


class DeadLetters:
    def __init__(self, sqs: SQSClient | None = None) -> None:
        self._sqs = sqs
        self._policies: dict[str, tuple[str, int] | None] = {}
        self._lock = threading.Lock()

    @property
    def sqs(self) -> SQSClient:
        return self._sqs or aws.sqs()

    def policy(self, source_arn: str) -> tuple[str, int] | None:
        """(DLQ URL, maxReceiveCount) of the queue ``source_arn``; None without a redrive policy."""
        if not source_arn:
            return None  # a hand-made event: no queue, so no DLQ
        with self._lock:
            if source_arn not in self._policies:
                self._policies[source_arn] = self._lookup(source_arn)
            return self._policies[source_arn]

    def _lookup(self, source_arn: str) -> tuple[str, int] | None:
        source_url = self._url_of(source_arn)
        attributes = self.sqs.get_queue_attributes(QueueUrl=source_url, AttributeNames=["RedrivePolicy"])["Attributes"]
        if "RedrivePolicy" not in attributes:
            return None
        redrive = json.loads(attributes["RedrivePolicy"])
        return self._url_of(redrive["deadLetterTargetArn"]), int(redrive["maxReceiveCount"])

    def _url_of(self, arn: str) -> str:
        _, _, _, _, account, name = arn.split(":", 5)
        url: str = self.sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        return url

    def _receives(self, record: dict[str, Any]) -> tuple[int, int] | None:
        """(this receive's number, maxReceiveCount); None without a redrive policy."""
        policy = self.policy(record["eventSourceARN"])
        receives = int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
        return None if policy is None else (receives, policy[1])

    def is_last_attempt(self, record: dict[str, Any]) -> bool:
        """The last receive that may do the work. With maxReceiveCount > 1 the final receive is
        kept in reserve (``is_past_attempts``): a process that dies on its last attempt (timeout,
        out of memory) leaves the record to a next receive that dead-letters it with a reason,
        instead of SQS moving it to the DLQ without one."""
        receives = self._receives(record)
        return receives is not None and receives[0] >= max(1, receives[1] - 1)

    def is_past_attempts(self, record: dict[str, Any]) -> bool:
        """The reserved final receive: the previous attempt died; dead-letter without working."""
        receives = self._receives(record)
        return receives is not None and receives[1] > 1 and receives[0] >= receives[1]

    def send(self, record: dict[str, Any], reason: str, error: str) -> bool:
        """Dead-letter ``record`` with its reason; False when its queue has no DLQ."""
        policy = self.policy(record["eventSourceARN"])
        if policy is None:
            return False
        for _ in range(SEND_TRIES - 1):
            try:
                self._send(policy[0], record, reason, error)
                return True
            except (ClientError, BotoCoreError):
                continue
        self._send(policy[0], record, reason, error)  # the last try: its error propagates
        return True

    def _send(self, dlq_url: str, record: dict[str, Any], reason: str, error: str) -> None:
        self.sqs.send_message(
            QueueUrl=dlq_url,
            MessageBody=record["body"],
            MessageAttributes={
                REASON: {"DataType": "String", "StringValue": reason},
                ERROR: {"DataType": "String", "StringValue": error[:1000] or reason},
                "facepipe-source-queue": {"DataType": "String", "StringValue": record["eventSourceARN"]},
                "facepipe-receive-count": {
                    "DataType": "Number",
                    "StringValue": str(record.get("attributes", {}).get("ApproximateReceiveCount", "1")),
                },
            },
        )
