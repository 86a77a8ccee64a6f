"""Who may send frames when the function URL is public (auth ``NONE``): per-device tokens.

With ``DEVICE_TOKENS_SSM_PARAMETER_NAME`` set, an SSM SecureString holds one token per device,
as JSON ``{"<source>": "<token>", …}`` (``source`` is the request's camera / album id, docs/contracts.md, Request).
Each request must carry its device's token in the ``x-facepipe-token`` header (not
``Authorization``: SigV4 uses that one when the URL's auth is ``AWS_IAM``). A request without
the header is 401, with a wrong token or an unknown source 403; tokens are compared in constant
time (``hmac.compare_digest``), and checked before the image is decoded. The parameter is read
at INIT and again after ``TOKENS_MAX_AGE`` seconds, so a rotated token applies without a deploy.
Empty setting: no token is asked for (IAM auth, or the seed's unsigned client).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities import parameters

from facepipe.exceptions import ConfigurationError, InvalidRequestError

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

TOKEN_HEADER = "x-facepipe-token"
#: the parameter's name in the local stack and Terraform's default (variable device_tokens_ssm_parameter_name)
DEFAULT_TOKENS_PARAMETER = "/facepipe/device-tokens"
#: seconds a read of the parameter is reused (Powertools' cache) before it is read again
TOKENS_MAX_AGE = 300
#: shortest token accepted in the parameter: 16 random bytes, hex or base64
MIN_TOKEN_LENGTH = 22
_ABSENT = "\x00" * 64  # compared against when the source has no token, so timing says nothing


def parse_tokens(value: object, parameter_name: str) -> dict[str, str]:
    """The parameter's JSON -> ``{source: token}``; ConfigurationError says what to fix."""
    try:
        tokens = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        tokens = None
    if not isinstance(tokens, dict) or not tokens:
        raise ConfigurationError(f"SSM parameter {parameter_name!r} must hold a JSON object {{source: token}} with at least one device")
    for source, token in tokens.items():
        if not isinstance(token, str) or len(token) < MIN_TOKEN_LENGTH:
            raise ConfigurationError(
                f"SSM parameter {parameter_name!r}: the token of {source!r} must be a string of at least {MIN_TOKEN_LENGTH} characters"
            )
    return dict(tokens)


def header(event: Mapping[str, Any], name: str) -> str | None:
    """A request header of a function URL event (names arrive lower-case), or None."""
    headers = event.get("headers")
    if not isinstance(headers, Mapping):
        return None
    value = headers.get(name)
    return value if isinstance(value, str) else None


class DeviceTokens:
    """Checks a request's ``x-facepipe-token`` against its source's token in SSM."""

    def __init__(self, parameter_name: str, ssm: SSMClient | None = None) -> None:
        self.parameter_name = parameter_name
        self._provider = parameters.SSMProvider(boto3_client=ssm) if ssm is not None else None
        self.tokens()  # INIT: a missing or malformed parameter fails the cold start, not a request

    def tokens(self) -> dict[str, str]:
        try:
            if self._provider is None:
                value: object = parameters.get_parameter(self.parameter_name, decrypt=True, max_age=TOKENS_MAX_AGE)
            else:
                value = self._provider.get(self.parameter_name, decrypt=True, max_age=TOKENS_MAX_AGE)
        except parameters.exceptions.GetParameterError as exc:
            raise ConfigurationError(
                f"cannot read the device tokens from SSM parameter {self.parameter_name!r} ({exc}); create it as a "
                "SecureString holding {source: token}, allow ssm:GetParameter and kms:Decrypt on it, or unset "
                "DEVICE_TOKENS_SSM_PARAMETER_NAME"
            ) from exc
        return parse_tokens(value, self.parameter_name)

    def verify(self, source: str, token: str | None) -> None:
        """Nothing when ``token`` is ``source``'s; InvalidRequestError 401 (no token) or 403 otherwise."""
        if token is None or token == "":
            raise InvalidRequestError("missing_token", f"send this device's token in the {TOKEN_HEADER} header", 401)
        expected = self.tokens().get(source)
        matches = hmac.compare_digest(token.encode("utf-8", "surrogatepass"), (expected or _ABSENT).encode())
        if expected is None or not matches:
            raise InvalidRequestError("invalid_token", "the token is not valid for this source", 403)
