"""An unmodified external client in the seed's shape (not importing facepipe).

POSTs {request_id, content, filename} to the function URL, polls the response queue with
boto3 (``receive_message(MaxNumberOfMessages=1, WaitTimeSeconds=5)``) from one thread per
request, deletes only its own answer. Batches of --concurrency requests. Prints JSON.

    AWS_ENDPOINT_URL=<stack endpoint_url> python seed_client.py URL QUEUE_URL IMAGE... --requests 100 --concurrency 10
"""

import argparse
import base64
import json
import statistics
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3


def one(url, sqs, queue_url, path):
    request_id = str(uuid.uuid4())
    body = json.dumps({"request_id": request_id, "filename": path.name, "content": base64.b64encode(path.read_bytes()).decode()})
    started = time.time()
    request = urllib.request.Request(url, data=body.encode(), headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            status = reply.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    while status == 200 and time.time() - started < 60:
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=5).get("Messages", []):
            answer = json.loads(message["Body"])
            if answer["request_id"] == request_id:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                return {
                    "request_id": request_id,
                    "file": path.name,
                    "status": status,
                    "result": answer["result"],
                    "latency": time.time() - started,
                }
    return {"request_id": request_id, "file": path.name, "status": status, "result": None, "latency": None}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("queue_url")
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    sqs = boto3.client("sqs")
    results = []
    with ThreadPoolExecutor(args.concurrency) as pool:
        for start in range(0, args.requests, args.concurrency):
            paths = [args.images[i % len(args.images)] for i in range(start, min(args.requests, start + args.concurrency))]
            results += list(pool.map(lambda p: one(args.url, sqs, args.queue_url, p), paths))
    latencies = [r["latency"] for r in results if r["latency"] is not None]
    print(json.dumps({"results": results, "answered": len(latencies), "mean": statistics.fmean(latencies) if latencies else None}))


if __name__ == "__main__":
    main()
