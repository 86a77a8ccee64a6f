#!/usr/bin/env python3
"""Create the Pinecone serverless index facepipe writes to, or check the one that exists.

The index is cosine, with the dimension of the embedding model (its spec's,
facepipe.embedding.models); vectors of different models never share an index. Running it again
changes nothing. It prints the index host, which goes into terraform's
pinecone_index_host (PINECONE_INDEX_HOST) so the function needs no describe call.

The API key comes from PINECONE_API_KEY, else from the SSM SecureString that
scripts/set-pinecone-key.sh wrote (PINECONE_SSM_PARAMETER_NAME, default /pinecone/facepipe).

    .venv/bin/python scripts/create_pinecone_index.py --model facenet-vggface2
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from facepipe.embedding.models import MODELS
from facepipe.settings import Settings

DIMENSIONS = {spec.name: spec.dimension for spec in MODELS.values()}
METRIC = "cosine"
DEFAULT_INDEX_NAME = Settings().pinecone_index_name
DEFAULT_SSM_PARAMETER = Settings().pinecone_ssm_parameter_name
#: what terraform puts in the parameter before the real key is set
PLACEHOLDER = "set-by-scripts/set-pinecone-key.sh"


class IndexSetupError(RuntimeError):
    """The index exists but cannot serve this model, or the key is missing."""


def api_key_from_ssm(parameter: str, region: str | None) -> str:
    import boto3  # only needed when the key is not in the environment

    value = boto3.client("ssm", region_name=region).get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"]
    if not value or value == PLACEHOLDER:
        raise IndexSetupError(f"SSM parameter {parameter} still holds the placeholder: run scripts/set-pinecone-key.sh first")
    return value


def _field(model: Any, name: str) -> Any:
    value = getattr(model, name, None)
    if value is None and hasattr(model, "to_dict"):
        value = model.to_dict().get(name)
    return value


def ensure_index(pc: Any, name: str, dimension: int, *, cloud: str, region: str, timeout: int | None, deletion_protection: bool) -> str:
    """Create ``name`` (serverless, cosine, ``dimension``) unless it exists; return its host.

    An existing index must have the same dimension and metric, or IndexSetupError is raised:
    facepipe never mixes vectors of different models.
    """
    if pc.has_index(name):
        found = pc.describe_index(name)
        dim, metric = _field(found, "dimension"), _field(found, "metric")
        if dim is not None and int(dim) != dimension:
            raise IndexSetupError(
                f"Pinecone index {name!r} has dimension {dim}, not {dimension}: it belongs to another embedding "
                f"model. Choose another --name (and terraform pinecone_index_name) for this model."
            )
        if metric is not None and str(metric).lower() != METRIC:
            raise IndexSetupError(f"Pinecone index {name!r} uses metric {metric}, facepipe needs {METRIC}")
        print(f"index {name!r} exists (dimension {dim}, metric {metric})", file=sys.stderr)
        return str(_field(found, "host"))

    from pinecone import ServerlessSpec

    print(f"creating index {name!r}: serverless {cloud}/{region}, dimension {dimension}, {METRIC}", file=sys.stderr)
    created = pc.create_index(
        name=name,
        dimension=dimension,
        metric=METRIC,
        spec=ServerlessSpec(cloud=cloud, region=region),
        deletion_protection="enabled" if deletion_protection else "disabled",
        tags={"app": "facepipe"},
        timeout=timeout,
    )
    host = _field(created, "host") or _field(pc.describe_index(name), "host")
    return str(host)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--name",
        default=os.environ.get("PINECONE_INDEX_NAME") or DEFAULT_INDEX_NAME,
        help="index name (default: $PINECONE_INDEX_NAME or facepipe)",
    )
    parser.add_argument(
        "--model",
        default=os.environ.get("EMBEDDING_MODEL") or Settings().embedding_model,
        choices=sorted(DIMENSIONS),
        help="embedding model; sets the dimension",
    )
    parser.add_argument("--cloud", default="aws", help="serverless cloud (default: aws)")
    parser.add_argument("--region", default="us-east-1", help="serverless region of the index (default: us-east-1)")
    parser.add_argument(
        "--ssm-parameter",
        default=os.environ.get("PINECONE_SSM_PARAMETER_NAME") or DEFAULT_SSM_PARAMETER,
        help="SSM SecureString with the key, used when PINECONE_API_KEY is unset",
    )
    parser.add_argument(
        "--aws-region",
        default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
        help="AWS region of the SSM parameter",
    )
    parser.add_argument("--timeout", type=int, default=300, help="seconds to wait for a new index to be ready (-1: do not wait)")
    parser.add_argument("--deletion-protection", action="store_true", help="create the index with deletion protection")
    args = parser.parse_args(argv)

    try:
        api_key = os.environ.get("PINECONE_API_KEY") or api_key_from_ssm(args.ssm_parameter, args.aws_region)
        from pinecone import Pinecone

        host = ensure_index(
            Pinecone(api_key=api_key, source_tag="facepipe"),
            args.name,
            DIMENSIONS[args.model],
            cloud=args.cloud,
            region=args.region,
            timeout=args.timeout,
            deletion_protection=args.deletion_protection,
        )
    except IndexSetupError as exc:
        print(f"create_pinecone_index: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # SDK, network or AWS errors: one line, no traceback, never the key
        print(f"create_pinecone_index: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"set terraform pinecone_index_host (PINECONE_INDEX_HOST) to: {host}", file=sys.stderr)
    print(host)
    return 0


if __name__ == "__main__":
    sys.exit(main())
