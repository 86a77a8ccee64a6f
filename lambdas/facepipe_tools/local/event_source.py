"""An SQS event source mapping, as Lambda runs one: poll, batch, invoke, delete what succeeded.

Batch size and batching window as configured; records a handler reports in
``batchItemFailures`` (or a whole batch whose invocation raised) stay on the queue,
come back after the visibility timeout, and the queue's redrive policy moves them
to the DLQ after maxReceiveCount receives (the emulator enforces it, as SQS does).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

log = logging.getLogger("facepipe_tools.local")


class SqsMessageAttribute(TypedDict):
    stringValue: str | None
    binaryValue: bytes | None
    stringListValues: list[str]
    binaryListValues: list[bytes]
    dataType: str


class SqsRecord(TypedDict):
    """One record of the event Lambda's SQS event source mapping sends."""

    messageId: str
    receiptHandle: str
    body: str
    attributes: dict[str, str]
    messageAttributes: dict[str, SqsMessageAttribute]
    md5OfBody: str
    eventSource: str
    eventSourceARN: str
    awsRegion: str


class SqsEvent(TypedDict):
    Records: list[SqsRecord]


def sqs_record(message: MessageTypeDef, queue_arn: str, region: str) -> SqsRecord:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {str(k): v for k, v in message.get("Attributes", {}).items()},
        "messageAttributes": {
            k: {
                "stringValue": v.get("StringValue"),
                "binaryValue": v.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": v["DataType"],
            }
            for k, v in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def sent_and_received(sqs: SQSClient, queue_url: str, bodies: list[str], max_receive: int = 10) -> SqsEvent:
    """Send ``bodies`` to a queue and receive them back as a Lambda SQS event (real receipt
    handles and receive counts): a handler invoked in process with what the queue hands on."""
    for body in bodies:
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    messages: list[MessageTypeDef] = []
    while len(messages) < len(bodies):
        messages += sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=max_receive, AttributeNames=["All"]).get("Messages", [])
    return {"Records": [sqs_record(m, arn, sqs.meta.region_name) for m in messages]}


class SqsEventSource:
    """Poll ``queue_url`` with ``pollers`` threads and invoke with batches, as the mapping does."""

    def __init__(
        self,
        sqs: SQSClient,
        queue_url: str,
        invoke: Callable[[SqsEvent], Any],
        *,
        batch_size: int = 10,
        batching_window: float = 0.0,
        pollers: int = 1,
        region: str = "us-east-1",
        on_batch: Callable[[int, int], None] | None = None,
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.invoke = invoke
        self.batch_size = batch_size
        self.batching_window = batching_window
        self.region = region
        self.on_batch = on_batch
        self.queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, name=f"esm-{self.queue_arn.rsplit(':', 1)[-1]}-{i}", daemon=True) for i in range(pollers)
        ]

    def start(self) -> SqsEventSource:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _receive(self, count: int, wait: int) -> list[MessageTypeDef]:
        return self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=wait,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])

    def _batch(self) -> list[MessageTypeDef]:
        messages = self._receive(min(10, self.batch_size), 1)
        deadline = time.monotonic() + self.batching_window
        while messages and len(messages) < self.batch_size and time.monotonic() < deadline and not self._stop.is_set():
            messages += self._receive(min(10, self.batch_size - len(messages)), 0) or []
            time.sleep(0.02)
        return messages

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                messages = self._batch()
            except Exception:  # emulator going down or a passing fault: poll again
                if not self._stop.is_set():
                    log.exception("polling %s failed", self.queue_url)
                    time.sleep(0.5)
                continue
            if messages:
                self.deliver(messages)

    def deliver(self, messages: list[MessageTypeDef]) -> set[str]:
        """Invoke with one batch; delete the successes; return the ids left for redelivery."""
        event: SqsEvent = {"Records": [sqs_record(m, self.queue_arn, self.region) for m in messages]}
        try:
            result = self.invoke(event) or {}
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        except Exception:
            log.exception("invocation failed; the whole batch will be redelivered")
            failed = {m["MessageId"] for m in messages}
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)]
            )
        if self.on_batch:
            self.on_batch(len(messages), len(failed))
        return failed
