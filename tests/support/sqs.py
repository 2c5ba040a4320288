"""An SQS-compatible server on loopback for tests: moto's server mode, in a thread.

ElasticMQ (the SQS server a team would run beside Tidepool) cannot be installed here; moto
speaks the same API. The environment is pinned while it runs so boto3 never looks anywhere
else: dummy credentials, no shared config files, no instance metadata, the endpoint given
explicitly, loopback exempt from any proxy.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

REGION = "us-east-1"


@dataclass(frozen=True)
class SqsServer:
    endpoint_url: str

    def create_queue(self, *, fifo: bool = False) -> str:
        """A new, empty queue for one test; returns its URL."""
        name = f"tidepool-test-{uuid.uuid4().hex[:12]}" + (".fifo" if fifo else "")
        attributes = {"FifoQueue": "true"} if fifo else {}
        sqs = boto3.session.Session().client(
            "sqs", region_name=REGION, endpoint_url=self.endpoint_url
        )
        try:
            return sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        finally:
            sqs.close()


@contextmanager
def sqs_server(scratch: Path) -> Iterator[SqsServer]:
    """Start moto on a free loopback port with a pinned AWS environment; stop it after."""
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CA_BUNDLE", "AWS_ENDPOINT_URL"):
            env.delenv(name, raising=False)
        env.setenv("AWS_ACCESS_KEY_ID", "tidepool-test")
        env.setenv("AWS_SECRET_ACCESS_KEY", "tidepool-test")
        env.setenv("AWS_DEFAULT_REGION", REGION)
        env.setenv("AWS_CONFIG_FILE", str(scratch / "no-aws-config"))
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(scratch / "no-aws-credentials"))
        env.setenv("AWS_EC2_METADATA_DISABLED", "true")
        env.setenv("NO_PROXY", "127.0.0.1,localhost")
        env.setenv("no_proxy", "127.0.0.1,localhost")
        # One access-log line per request buries a failing test's own output.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            env.setenv("AWS_ENDPOINT_URL_SQS", endpoint)
            yield SqsServer(endpoint)
        finally:
            server.stop()
