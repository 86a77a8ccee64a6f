"""The local SQS event source behaves like Lambda's: batches, partial failures, redelivery, DLQ."""

from __future__ import annotations

import json

import pytest

from helpers import drain, eventually, queue_depth


@pytest.fixture
def queues(aws):
    sqs = aws.client("sqs")
    dlq = sqs.create_queue(QueueName="work-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    work = sqs.create_queue(
        QueueName="work",
        Attributes={"VisibilityTimeout": "1", "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})},
    )["QueueUrl"]
    return sqs, work, dlq


def test_event_source_delivers_a_batch_and_deletes_successes(queues):
    from facepipe_tools.local.event_source import SqsEventSource

    sqs, work, _ = queues
    for i in range(3):
        sqs.send_message(QueueUrl=work, MessageBody=f"m{i}")
    seen = []

    def handler(event):
        seen.extend(r["body"] for r in event["Records"])
        assert all(r["eventSource"] == "aws:sqs" and r["eventSourceARN"].endswith(":work") for r in event["Records"])
        return {"batchItemFailures": []}

    source = SqsEventSource(sqs, work, handler, batch_size=10)
    failed = source.deliver(source._receive(10, 0))
    assert failed == set()
    assert sorted(seen) == ["m0", "m1", "m2"]
    # deleted, not merely in flight (counted either way): nothing comes back after the visibility timeout
    assert queue_depth(sqs, work) == 0
    assert drain(sqs, work) == []


def test_event_source_redelivers_failures_then_dead_letters_them(queues):
    from facepipe_tools.local.event_source import SqsEventSource

    sqs, work, dlq = queues
    sqs.send_message(QueueUrl=work, MessageBody="good")
    sqs.send_message(QueueUrl=work, MessageBody="bad")
    attempts = []

    def handler(event):
        attempts.append([(r["body"], r["attributes"]["ApproximateReceiveCount"]) for r in event["Records"]])
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "bad"]}

    source = SqsEventSource(sqs, work, handler).start()
    try:
        eventually(lambda: queue_depth(sqs, dlq) > 0, timeout=15, interval=0.2)
    finally:
        source.stop()
    bodies = [body for batch in attempts for body, _ in batch]
    assert bodies.count("good") == 1  # succeeded once, deleted
    assert [count for batch in attempts for body, count in batch if body == "bad"] == ["1", "2"]  # redelivered after visibility
    assert [m["Body"] for m in drain(sqs, dlq)] == ["bad"]  # moved after maxReceiveCount


def test_event_source_whole_batch_is_retried_when_the_invocation_raises(queues):
    from facepipe_tools.local.event_source import SqsEventSource

    sqs, work, _ = queues
    sqs.send_message(QueueUrl=work, MessageBody="x")

    def crash(event):
        raise RuntimeError("function crashed")

    source = SqsEventSource(sqs, work, crash)
    messages = source._receive(10, 0)
    assert source.deliver(messages) == {messages[0]["MessageId"]}
    # visible again once its visibility timeout (1 s) has passed
    assert [m["Body"] for m in eventually(lambda: drain(sqs, work), timeout=10, interval=0.1)] == ["x"]


def test_event_source_batching_window_gathers_messages(queues):
    from facepipe_tools.local.event_source import SqsEventSource

    sqs, work, _ = queues
    batches = []
    source = SqsEventSource(sqs, work, lambda e: batches.append(len(e["Records"])) or {}, batch_size=5, batching_window=1.0)
    for i in range(5):
        sqs.send_message(QueueUrl=work, MessageBody=str(i))
    source.deliver(source._batch())
    assert batches == [5]
