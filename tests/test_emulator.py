"""The local stack's AWS emulator (moto's server with a lighter rollback copy, DynamoDB requests
one at a time, SQS receives without deep copies, one request at a time per queue): transactions
behave as DynamoDB's do, also under concurrent writers; queues hand out messages as SQS does."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from facepipe_tools.local.emulator import AwsEmulator

TABLE = "emulator-test"


@pytest.fixture(scope="module")
def emulator() -> Iterator[AwsEmulator]:
    server = AwsEmulator(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    yield server
    server.stop()


def client_of(emulator: AwsEmulator, service: str):
    return boto3.client(
        service,
        endpoint_url=f"http://127.0.0.1:{emulator.get_host_and_port()[1]}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}),  # a 500 from the emulator must show, not be retried away
    )


@pytest.fixture(scope="module")
def dynamodb(emulator) -> object:
    client = client_of(emulator, "dynamodb")
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}, {"AttributeName": "SK", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return client


def key(pk: str, sk: str = "META") -> dict:
    return {"PK": {"S": pk}, "SK": {"S": sk}}


def update_count(pk: str, expression: str, values: dict) -> dict:
    """A transaction's Update of item ``pk``'s ``count`` (as ``#c``)."""
    return {
        "Update": {
            "TableName": TABLE,
            "Key": key(pk),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": {"#c": "count"},
            "ExpressionAttributeValues": values,
        }
    }


def item(client, pk: str, sk: str = "META") -> dict | None:
    return client.get_item(TableName=TABLE, Key=key(pk, sk), ConsistentRead=True).get("Item")


def test_cancelled_transaction_restores_updated_put_and_deleted_items(dynamodb) -> None:
    client = dynamodb
    # GIVEN three items, and many others the transaction does not name
    for pk, count in (("a", "1"), ("b", "5"), ("d", "7")):
        client.put_item(TableName=TABLE, Item={**key(pk), "count": {"N": count}, "tags": {"L": [{"S": "x"}]}})
    for i in range(200):
        client.put_item(TableName=TABLE, Item={**key(f"other-{i}"), "n": {"N": str(i)}})
    # WHEN a transaction updates a in place, puts c, deletes d, then fails its check on b
    with pytest.raises(ClientError) as cancelled:
        client.transact_write_items(
            TransactItems=[
                update_count("a", "SET #c = #c + :one, tags = list_append(tags, :t)", {":one": {"N": "1"}, ":t": {"L": [{"S": "y"}]}}),
                {"Put": {"TableName": TABLE, "Item": {**key("c"), "count": {"N": "1"}}}},
                {"Delete": {"TableName": TABLE, "Key": key("d")}},
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": key("b"),
                        "ConditionExpression": "#c = :zero",
                        "ExpressionAttributeNames": {"#c": "count"},
                        "ExpressionAttributeValues": {":zero": {"N": "0"}},
                    }
                },
            ]
        )
    # THEN it is cancelled and nothing it did remains
    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert item(client, "a") == {**key("a"), "count": {"N": "1"}, "tags": {"L": [{"S": "x"}]}}
    assert item(client, "c") is None
    assert item(client, "d") == {**key("d"), "count": {"N": "7"}, "tags": {"L": [{"S": "x"}]}}
    assert item(client, "other-150") == {**key("other-150"), "n": {"N": "150"}}
    # AND a transaction that passes is applied whole
    client.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": TABLE, "Item": {**key("c"), "count": {"N": "1"}}}},
            {"Delete": {"TableName": TABLE, "Key": key("d")}},
        ]
    )
    assert item(client, "c") is not None
    assert item(client, "d") is None


def test_transactions_and_writes_from_many_threads_all_succeed_and_count_right(dynamodb) -> None:
    # GIVEN a table of 1,500 items with a counter, and 8 threads that each add 25 to it in
    # transactions while writing other items
    client = dynamodb
    for start in range(0, 1500, 25):
        puts = [{"PutRequest": {"Item": {**key(f"bulk-{i}"), "n": {"N": str(i)}}}} for i in range(start, start + 25)]
        client.batch_write_item(RequestItems={TABLE: puts})
    client.put_item(TableName=TABLE, Item={**key("counter"), "count": {"N": "0"}})
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(25):
                client.transact_write_items(
                    TransactItems=[
                        update_count("counter", "ADD #c :one", {":one": {"N": "1"}}),
                        {"Put": {"TableName": TABLE, "Item": key(f"w{worker}", f"t{i}")}},
                    ]
                )
                client.put_item(TableName=TABLE, Item=key(f"w{worker}", f"p{i}"))
        except BaseException as exc:  # collected: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN no request failed (plain moto, racing its table copy, has answered some with a 500) and
    # every increment counted once
    assert errors == []
    assert item(client, "counter") == {**key("counter"), "count": {"N": "200"}}


# --- SQS ----------------------------------------------------------------------------------------


def test_receiving_some_attributes_leaves_the_stored_message_whole(emulator) -> None:
    # GIVEN a message with two attributes, received with one of them asked for
    sqs = client_of(emulator, "sqs")
    url = sqs.create_queue(QueueName="emulator-attributes", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    attributes = {name: {"DataType": "String", "StringValue": name.lower()} for name in ("Kind", "Trace")}
    sqs.send_message(QueueUrl=url, MessageBody="frame", MessageAttributes=attributes)
    (first,) = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["Kind"])["Messages"]
    # WHEN it is received again with all of them
    (again,) = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], AttributeNames=["All"])["Messages"]
    # THEN the first answer had only the one asked for, the stored message kept both, and the
    # receive count went up on the stored message (what the redrive policy reads)
    assert first["MessageAttributes"] == {"Kind": {"DataType": "String", "StringValue": "kind"}}
    assert again["MessageAttributes"] == {name: {"DataType": "String", "StringValue": name.lower()} for name in attributes}
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"


def test_a_message_past_its_queues_retention_period_is_not_handed_out(emulator) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sqs.models import sqs_backends

    # GIVEN a queue keeping messages 60 s, and two messages in it, the first sent 61 s ago
    sqs = client_of(emulator, "sqs")
    url = sqs.create_queue(QueueName="emulator-retention", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="old")
    sqs.send_message(QueueUrl=url, MessageBody="new")
    stored = sqs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].get_queue("emulator-retention")._messages
    stored[0].sent_timestamp -= 61_000
    # WHEN the queue is read
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    # THEN the old message is not delivered (moto stops the receive there, as it always has);
    # the one within the period is, once the old one is gone
    assert [m["Body"] for m in received] == []
    del stored[0]
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]] == ["new"]


# --- the emulator in a process of its own (what the local stack runs) -------------------------
def _serves(endpoint: str) -> bool:
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    url = sqs.create_queue(QueueName="emulator-process")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="hello")
    return [m["Body"] for m in sqs.receive_message(QueueUrl=url).get("Messages", [])] == ["hello"]


def _listening(endpoint: str) -> bool:
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(endpoint)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=1).close()
        return True
    except OSError:
        return False


def test_the_emulator_process_serves_and_stops() -> None:
    from facepipe_tools.local.emulator import EmulatorProcess

    # GIVEN the emulator in its own process
    emulator = EmulatorProcess()
    endpoint = emulator.start()
    try:
        # THEN it serves SQS like the in-process one
        assert _serves(endpoint)
    finally:
        emulator.stop()
    # WHEN stopped THEN nothing listens there any more
    assert not _listening(endpoint)


def test_the_emulator_process_ends_with_the_process_that_started_it(tmp_path) -> None:
    import subprocess
    import sys
    import time

    # GIVEN a process that starts the emulator and dies without stopping it (a killed `facepipe local up`)
    script = (
        "import os, sys\n"
        "from facepipe_tools.local.emulator import EmulatorProcess\n"
        "print(EmulatorProcess().start(), flush=True)\n"
        "os._exit(0)\n"
    )
    # (its stderr, which the emulator inherits, goes nowhere: a pipe would keep this test waiting for the emulator)
    dying = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    endpoint = dying.communicate(timeout=120)[0].strip()
    assert endpoint.startswith("http://")
    assert dying.returncode == 0
    # THEN the emulator does not outlive it (no orphaned server holding the port)
    deadline = time.monotonic() + 15
    while _listening(endpoint) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _listening(endpoint)


def test_the_emulator_process_says_why_it_did_not_start() -> None:
    import socket

    from facepipe_tools.local.emulator import EmulatorError, EmulatorProcess

    # GIVEN the port it is asked for is taken
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        emulator = EmulatorProcess(port=taken.getsockname()[1])
        # WHEN it starts THEN it fails at once, naming the address and the exit
        with pytest.raises(EmulatorError, match=r"127\.0\.0\.1:\d+ exited with code"):
            emulator.start()


def test_the_emulator_in_process_refuses_a_taken_port_at_once() -> None:
    import socket

    from facepipe_tools.local.emulator import EmulatorError

    # GIVEN the port it is asked for is taken
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        # WHEN the emulator starts on it THEN it raises (moto's own server would wait forever)
        with pytest.raises(EmulatorError, match=r"cannot listen on 127\.0\.0\.1:\d+"):
            AwsEmulator(ip_address="127.0.0.1", port=taken.getsockname()[1], verbose=False).start()


def test_pollers_receiving_one_message_at_once_can_each_delete_it(emulator, monkeypatch) -> None:
    # GIVEN a response queue as facepipe's (visibility 0 s: every poller may take the same
    # message), one answer in it, and moto's receipt handles made slowly, so that receives that
    # run together interleave (in SQS each receive gets a handle that deletes the message)
    import time

    import moto.sqs.models

    made = moto.sqs.models.generate_receipt_handle

    def slowly() -> str:
        time.sleep(0.02)
        return made()

    monkeypatch.setattr(moto.sqs.models, "generate_receipt_handle", slowly)
    sqs = client_of(emulator, "sqs")
    url = sqs.create_queue(QueueName="emulator-same-message", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="the answer")
    start = threading.Barrier(8)
    handles: list[str] = []

    def poller() -> None:
        mine = client_of(emulator, "sqs")
        start.wait()
        handles.extend(m["ReceiptHandle"] for m in mine.receive_message(QueueUrl=url, MaxNumberOfMessages=1).get("Messages", []))

    # WHEN eight pollers receive at once
    threads = [threading.Thread(target=poller) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN each got the answer, and each one's handle deletes it (the first) or is accepted (the rest)
    assert len(handles) == 8
    refused = []
    for handle in handles:
        try:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
        except ClientError as exc:
            refused.append(exc.response["Error"]["Code"])
    assert refused == []
    assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []) == []
