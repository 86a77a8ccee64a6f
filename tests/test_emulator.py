"""The local stack's AWS emulator (moto's server with a lighter rollback copy, DynamoDB requests
one at a time, SQS receives without deep copies, one request at a time per queue, requests that
meet a transaction under way refused): transactions behave as DynamoDB's do, also under concurrent
writers, conflicts included; queues hand out messages as SQS does."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from facepipe_tools.local.emulator import AwsEmulator
from helpers import eventually

TABLE = "emulator-test"


@pytest.fixture(scope="module")
def emulator() -> Iterator[AwsEmulator]:
    # no request is ever under way when another arrives (no conflicts): these tests are about
    # moto's requests one at a time; the conflicts' are below (``strict``)
    server = AwsEmulator(ip_address="127.0.0.1", port=0, verbose=False, transaction_ms=0, write_ms=0)
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
    eventually(lambda: not _listening(endpoint), timeout=15, interval=0.2)
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


# --- conflicts: requests meeting a transaction under way, refused as DynamoDB refuses them -----

#: the strict emulator's windows: long, so that a request sent once another is seen in flight
#: certainly arrives while it still is (each test checks that it did)
WINDOW_MS = 500
ONGOING = "Transaction is ongoing for the item"
CONFLICT = {"Code": "TransactionConflict", "Message": ONGOING}
NONE = {"Code": "None"}


def dynamodb_at(endpoint: str):
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}),  # a conflict must show, not be retried away
    )


@pytest.fixture(scope="module")
def strict() -> Iterator[str]:
    """The emulator as the local stack runs it (its own process), with long windows; its endpoint."""
    from facepipe_tools.local.emulator import EmulatorProcess

    process = EmulatorProcess(transaction_ms=WINDOW_MS, write_ms=WINDOW_MS)
    endpoint = process.start()
    dynamodb_at(endpoint).create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}, {"AttributeName": "SK", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield endpoint
    process.stop()


def refused(endpoint: str) -> dict[str, int]:
    from facepipe_tools.local.emulator import conflict_counts

    counts = conflict_counts(endpoint)
    return {name: counts[name] for name in ("transactions_cancelled", "writes_refused", "transact_gets_cancelled")}


def wait_in_flight(endpoint: str, transactions: int = 0, writes: int = 0) -> None:
    """Until the emulator has these many items of transactions (of single writes) in flight."""
    from facepipe_tools.local.emulator import conflict_counts

    def in_flight() -> tuple[int, int]:
        counts = conflict_counts(endpoint)
        return counts["items_in_transactions"], counts["items_in_writes"]

    assert eventually(lambda: in_flight() == (transactions, writes), timeout=10, interval=0.005), (
        f"never {transactions} + {writes} items in flight: {conflict_counts(endpoint)}"
    )


class Running:
    """A request on a thread of its own; ``join`` raises what it raised."""

    def __init__(self, request) -> None:
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, args=(request,))
        self.thread.start()

    def _run(self, request) -> None:
        try:
            request()
        except BaseException as exc:  # reraised by join
            self.errors.append(exc)

    def alive(self) -> bool:
        return self.thread.is_alive()

    def join(self) -> None:
        self.thread.join()
        if self.errors:
            raise self.errors[0]


def put(pk: str, value: str = "A") -> dict:
    return {"Put": {"TableName": TABLE, "Item": {**key(pk), "v": {"S": value}}}}


def set_value(pk: str, value: str) -> dict:
    return {
        "Update": {
            "TableName": TABLE,
            "Key": key(pk),
            "UpdateExpression": "SET v = :v",
            "ExpressionAttributeValues": {":v": {"S": value}},
        }
    }


def exists(pk: str) -> dict:
    return {"ConditionCheck": {"TableName": TABLE, "Key": key(pk), "ConditionExpression": "attribute_exists(PK)"}}


def reasons_of(client, transaction) -> tuple[list[dict], dict]:
    """The cancellation reasons of a transaction expected to be cancelled, and the whole answer."""
    with pytest.raises(client.exceptions.TransactionCanceledException) as cancelled:
        transaction()
    return cancelled.value.response["CancellationReasons"], cancelled.value.response


def test_a_transaction_naming_an_item_of_one_under_way_is_cancelled_at_that_item(strict) -> None:
    client = dynamodb_at(strict)
    before = refused(strict)
    # GIVEN a transaction under way (applied, its answer not yet given) writing x1, x2 and x3
    first = Running(lambda: client.transact_write_items(TransactItems=[put("x1"), put("x2"), set_value("x3", "A")]))
    wait_in_flight(strict, transactions=3)
    # WHEN transactions naming one of its items arrive (any action counts: Update, ConditionCheck)
    middle, answer = reasons_of(
        client, lambda: client.transact_write_items(TransactItems=[put("y1", "B"), set_value("x2", "B"), put("y2", "B")])
    )
    first_one, _ = reasons_of(client, lambda: client.transact_write_items(TransactItems=[exists("x3"), put("y3", "B")]))
    # AND a TransactGetItems naming one of them
    got, _ = reasons_of(
        client, lambda: client.transact_get_items(TransactItems=[{"Get": {"TableName": TABLE, "Key": key(k)}} for k in ("y9", "x1")])
    )
    # AND reads of its items
    read = item(client, "x1")
    queried = client.query(TableName=TABLE, KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": {"S": "x2"}})["Items"]
    scanned = client.scan(TableName=TABLE, ScanFilter={"PK": {"AttributeValueList": [{"S": "x3"}], "ComparisonOperator": "EQ"}})["Items"]
    batch = client.batch_get_item(RequestItems={TABLE: {"Keys": [key("x1"), key("x2")]}})["Responses"][TABLE]
    assert first.alive()  # all of them arrived while it was under way
    # THEN each transaction is cancelled with one reason per item, in order, the conflict at the shared item
    assert middle == [NONE, CONFLICT, NONE]
    assert first_one == [CONFLICT, NONE]
    assert got == [NONE, CONFLICT]
    assert answer["Error"]["Code"] == "TransactionCanceledException"
    assert (
        answer["Error"]["Message"]
        == "Transaction cancelled, please refer cancellation reasons for specific reasons [None, TransactionConflict, None]"
    )
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 400
    # AND the reads are answered, with what the transaction wrote
    assert read == {**key("x1"), "v": {"S": "A"}}
    assert queried == [{**key("x2"), "v": {"S": "A"}}]
    assert scanned == [{**key("x3"), "v": {"S": "A"}}]
    assert len(batch) == 2
    # AND items nobody else names are written meanwhile: a transaction and a single write, both
    # under way together with the first transaction
    others = [
        Running(lambda: client.transact_write_items(TransactItems=[put("z1"), put("z2")])),
        Running(lambda: client.put_item(TableName=TABLE, Item={**key("z3"), "v": {"S": "A"}})),
    ]
    wait_in_flight(strict, transactions=3 + 2, writes=1)
    first.join()
    for other in others:
        other.join()
    # AND the cancelled transactions changed nothing and left nothing in flight
    wait_in_flight(strict)
    assert [item(client, k) for k in ("y1", "y2", "y3")] == [None, None, None]
    assert item(client, "x2") == {**key("x2"), "v": {"S": "A"}}
    assert all(item(client, k) is not None for k in ("z1", "z2", "z3"))
    # AND the cancellation has the shape of moto's own (a condition that fails), as botocore reads it
    _, moto_own = reasons_of(client, lambda: client.transact_write_items(TransactItems=[exists("y1"), put("y4")]))
    assert set(answer) == set(moto_own)
    assert refused(strict) == {
        **before,
        "transactions_cancelled": before["transactions_cancelled"] + 2,
        "transact_gets_cancelled": before["transact_gets_cancelled"] + 1,
    }


def test_a_single_write_of_an_item_of_a_transaction_under_way_is_refused(strict) -> None:
    client = dynamodb_at(strict)
    before = refused(strict)
    # GIVEN a transaction under way writing p1 and p2
    first = Running(lambda: client.transact_write_items(TransactItems=[put("p1"), put("p2")]))
    wait_in_flight(strict, transactions=2)
    # WHEN a PutItem, an UpdateItem and a DeleteItem of its items arrive
    answers = []
    for write in (
        lambda: client.put_item(TableName=TABLE, Item={**key("p1"), "v": {"S": "B"}}),
        lambda: client.update_item(
            TableName=TABLE, Key=key("p2"), UpdateExpression="SET v = :v", ExpressionAttributeValues={":v": {"S": "B"}}
        ),
        lambda: client.delete_item(TableName=TABLE, Key=key("p1")),
    ):
        with pytest.raises(client.exceptions.TransactionConflictException) as conflict:
            write()
        answers.append(conflict.value.response)
    assert first.alive()
    first.join()
    # THEN each is refused as DynamoDB refuses it, and none of them changed anything
    assert [(a["Error"]["Code"], a["Error"]["Message"], a["ResponseMetadata"]["HTTPStatusCode"]) for a in answers] == [
        ("TransactionConflictException", ONGOING, 400)
    ] * 3
    assert [item(client, k) for k in ("p1", "p2")] == [{**key(k), "v": {"S": "A"}} for k in ("p1", "p2")]
    assert refused(strict) == {**before, "writes_refused": before["writes_refused"] + 3}
    # AND once the transaction is over, the same write goes through
    client.put_item(TableName=TABLE, Item={**key("p1"), "v": {"S": "B"}})
    assert item(client, "p1") == {**key("p1"), "v": {"S": "B"}}


def test_a_transact_get_meeting_a_single_write_under_way_is_cancelled_and_nothing_else_is(strict) -> None:
    client = dynamodb_at(strict)
    before = refused(strict)
    # GIVEN a PutItem under way
    write = Running(lambda: client.put_item(TableName=TABLE, Item={**key("g1"), "v": {"S": "A"}}))
    wait_in_flight(strict, writes=1)
    # WHEN a TransactGetItems naming its item arrives, and reads of it
    got, _ = reasons_of(
        client, lambda: client.transact_get_items(TransactItems=[{"Get": {"TableName": TABLE, "Key": key(k)}} for k in ("g0", "g1")])
    )
    read = item(client, "g1")
    # AND another PutItem of the same item, then a transaction writing it
    others = [Running(lambda: client.put_item(TableName=TABLE, Item={**key("g1"), "v": {"S": "B"}}))]
    wait_in_flight(strict, writes=2)
    others.append(Running(lambda: client.transact_write_items(TransactItems=[set_value("g1", "C")])))
    wait_in_flight(strict, transactions=1, writes=2)  # all three under way at once
    write.join()
    for other in others:
        other.join()
    # THEN only the TransactGetItems is cancelled (single writes refuse no write, nor reads)
    assert got == [NONE, CONFLICT]
    assert read == {**key("g1"), "v": {"S": "A"}}
    assert item(client, "g1") == {**key("g1"), "v": {"S": "C"}}
    assert refused(strict) == {**before, "transact_gets_cancelled": before["transact_gets_cancelled"] + 1}
    # AND once they are over, the same TransactGetItems is answered
    answered = client.transact_get_items(TransactItems=[{"Get": {"TableName": TABLE, "Key": key("g1")}}])["Responses"]
    assert answered == [{"Item": {**key("g1"), "v": {"S": "C"}}}]


def test_with_no_window_nothing_is_refused(emulator, dynamodb) -> None:
    from facepipe_tools.local.emulator import conflict_counts

    # GIVEN the emulator with windows of 0 ms, and 4 threads that write one item in transactions,
    # in single writes, and read it in TransactGetItems, all at once
    client = dynamodb
    endpoint = f"http://127.0.0.1:{emulator.get_host_and_port()[1]}"
    client.put_item(TableName=TABLE, Item={**key("shared"), "count": {"N": "0"}})
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            start.wait()
            for i in range(5):
                client.transact_write_items(
                    TransactItems=[update_count("shared", "ADD #c :one", {":one": {"N": "1"}}), put(f"n{worker}-{i}")]
                )
                client.update_item(
                    TableName=TABLE,
                    Key=key("shared"),
                    UpdateExpression="SET touched = :w",
                    ExpressionAttributeValues={":w": {"N": str(worker)}},
                )
                client.transact_get_items(TransactItems=[{"Get": {"TableName": TABLE, "Key": key("shared")}}])
        except BaseException as exc:  # collected: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN every request went through, and the route counts nothing refused and nothing in flight
    assert errors == []
    assert item(client, "shared")["count"] == {"N": "20"}
    assert conflict_counts(endpoint) == {
        "transactions_cancelled": 0,
        "writes_refused": 0,
        "transact_gets_cancelled": 0,
        "items_in_transactions": 0,
        "items_in_writes": 0,
    }


def test_local_up_passes_the_windows_to_the_emulator(monkeypatch) -> None:
    import signal

    import facepipe_tools.local.stack
    from facepipe_tools.cli import parser

    # GIVEN `facepipe local up` with and without --transaction-ms / --write-ms, its stack not started
    options = []

    class Stack:
        def __init__(self, opts) -> None:
            options.append(opts)

        def start(self) -> None:
            raise KeyboardInterrupt  # as Ctrl-C: the command stops at once

        def stop(self) -> None:
            pass

    monkeypatch.setattr(facepipe_tools.local.stack, "LocalStack", Stack)
    monkeypatch.setattr(signal, "signal", lambda *_: None)
    for argv in (["local", "up"], ["local", "up", "--transaction-ms", "0", "--write-ms", "2.5"]):
        args = parser().parse_args(argv)
        assert args.func(args) == 0
    # THEN the stack's options carry them: strict by default, off with 0
    assert [(o.transaction_ms, o.write_ms) for o in options] == [(25.0, 5.0), (0.0, 2.5)]
