"""``facepipe local up``: the whole pipeline on one machine with no AWS account (§7).

moto server (queues, table, bucket, SSM parameter, from facepipe.names) on 127.0.0.1, in
this process; each function's unmodified handler file in its own process, loaded as Lambda
loads it (local/worker.py); face-detection served as a function URL; face-recognition fed
by an SQS event source; its embedded index also served on Pinecone's data-plane routes so
other processes (the CLI) share it.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3

from facepipe import names as n
from facepipe.local.event_source import SqsEventSource
from facepipe.local.functions import FunctionServer
from facepipe.local.resources import Resources, create_resources
from facepipe.local.worker import FunctionPool, FunctionProcess
from facepipe.names import StackNames

log = logging.getLogger("facepipe.local")

REGION = "us-east-1"
LAMBDAS_DIR = Path(__file__).resolve().parents[2]
DEFAULT_STATE_FILE = Path(".facepipe/local.json")
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


@dataclass
class StackOptions:
    moto_port: int = 5000
    detection_port: int = 9000
    recognition_port: int = 9001
    vector_port: int = 5081
    embedding_model: str = "dlib-resnet"
    prefix: str = n.DEFAULT_PREFIX
    batch_size: int = n.BATCH_SIZE
    batching_window: float = 0.0
    request_visibility: int = n.REQUEST_VISIBILITY_SECONDS
    max_receive_count: int = n.MAX_RECEIVE_COUNT
    response_visibility: int = n.RESPONSE_VISIBILITY_SECONDS
    pollers: int = 2
    #: face-detection execution environments (processes) serving the function URL concurrently;
    #: on a 2-core machine one is fastest (measured with tests/clients/seed_client.py, see README)
    detection_environments: int = 1
    state_file: Path | None = DEFAULT_STATE_FILE
    environment: dict[str, str] = field(default_factory=dict)


def load_handler(function_dir: str) -> ModuleType:
    """Import ``lambdas/<function_dir>/handler.py`` the way the Lambda runtime does (task root on sys.path)."""
    path = LAMBDAS_DIR / function_dir / "handler.py"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run from a source checkout installed with `make install`")
    if str(LAMBDAS_DIR) not in sys.path:
        sys.path.insert(0, str(LAMBDAS_DIR))
    spec = importlib.util.spec_from_file_location(f"_facepipe_local_{function_dir}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class LocalStack:
    def __init__(self, options: StackOptions | None = None) -> None:
        self.options = options or StackOptions()
        self.names = StackNames(self.options.prefix)
        self.info: dict[str, Any] = {}
        self.resources: Resources | None = None
        self._stoppers: list[Any] = []

    def environment(self, endpoint: str, resources: Resources) -> dict[str, str]:
        """What the two functions see: the same names Terraform sets (facepipe.settings)."""
        return {
            **LOCAL_CREDENTIALS,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "REQUEST_QUEUE_URL": resources.request_queue_url,
            "RESPONSE_QUEUE_URL": resources.response_queue_url,
            "DDB_TABLE_NAME": resources.table,
            "S3_BUCKET_NAME": resources.bucket,
            "PINECONE_SSM_PARAMETER_NAME": resources.ssm_parameter,
            "VECTOR_BACKEND": "local",
            "EMBEDDING_MODEL": self.options.embedding_model,
            # the two functions share this machine's cores; in Lambda each gets its own vCPUs
            "TORCH_NUM_THREADS": "1",
            **self.options.environment,
        }

    def start(self) -> dict[str, Any]:
        from moto.server import ThreadedMotoServer

        opts = self.options
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request access log
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=opts.moto_port, verbose=False)
        moto.start()
        self._stoppers.append(moto.stop)
        endpoint = "http://127.0.0.1:%d" % moto.get_host_and_port()[1]
        log.info("AWS emulator (moto) on %s", endpoint)

        session = boto3.session.Session(region_name=REGION, **{k.lower(): v for k, v in LOCAL_CREDENTIALS.items()})
        self._session = _EndpointSession(session, endpoint)
        resources = create_resources(
            self._session, self.names, request_visibility=opts.request_visibility, max_receive_count=opts.max_receive_count,
            response_visibility=opts.response_visibility,
        )
        self.resources = resources
        os.environ.update(self.environment(endpoint, resources))

        log.info("loading face-detection and face-recognition (%s)", opts.embedding_model)
        # detection: a pool of environments (Lambda scales it out); recognition: one environment
        detection = FunctionPool("face_detection", dict(os.environ), opts.detection_environments).start()
        self._stoppers.append(detection.stop)
        # recognition runs in its own process, like its own Lambda container; it also owns the
        # embedded index and serves it on Pinecone's data-plane routes for other processes
        recognition = FunctionProcess("face_recognition", dict(os.environ), vector_port=opts.vector_port).start()
        self._stoppers.append(recognition.stop)
        self.detection = FunctionServer(detection, self.names.detection_function, opts.detection_port).start()
        self.recognition = FunctionServer(recognition, self.names.recognition_function, opts.recognition_port, function_url=False).start()
        self._stoppers += [self.detection.stop, self.recognition.stop]

        sqs = self._session.client("sqs")
        for queue_url in (resources.request_queue_url, resources.photo_queue_url):
            source = SqsEventSource(
                sqs,
                queue_url,
                self.recognition.invoke,
                batch_size=opts.batch_size,
                batching_window=opts.batching_window,
                pollers=opts.pollers,
                region=REGION,
            ).start()
            self._stoppers.insert(0, source.stop)

        self.info = {
            "function_url": self.detection.url,
            "endpoint_url": endpoint,
            "request_queue_url": resources.request_queue_url,
            "response_queue_url": resources.response_queue_url,
            "photo_queue_url": resources.photo_queue_url,
            "request_dlq_url": resources.request_dlq_url,
            "photo_dlq_url": resources.photo_dlq_url,
            "photo_bucket": resources.bucket,
            "table": resources.table,
            "ssm_parameter": resources.ssm_parameter,
            "vector_url": recognition.ready["vector_url"],
            "embedding_model": opts.embedding_model,
            "namespace": recognition.ready["namespace"],
            "detection_invoke_url": self.detection.invoke_url,
            "recognition_invoke_url": self.recognition.invoke_url,
            "region": REGION,
            "pid": os.getpid(),
        }
        if opts.state_file is not None:
            opts.state_file.parent.mkdir(parents=True, exist_ok=True)
            opts.state_file.write_text(json.dumps(self.info, indent=2) + "\n")
        return self.info

    def stop(self) -> None:
        for stop in self._stoppers:
            try:
                stop()
            except Exception:  # keep stopping the rest
                log.exception("while stopping the local stack")
        self._stoppers.clear()
        state = self.options.state_file
        if state is not None and state.exists() and json.loads(state.read_text()).get("pid") == os.getpid():
            state.unlink()

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _EndpointSession:
    """A boto3 session whose clients all talk to the emulator."""

    def __init__(self, session: boto3.session.Session, endpoint: str) -> None:
        self._session = session
        self._endpoint = endpoint

    def client(self, service: str) -> Any:
        return self._session.client(service, endpoint_url=self._endpoint)
