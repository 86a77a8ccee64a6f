"""terraform/ agrees with the code: settings, handlers, names, queue behaviour, IAM."""

from __future__ import annotations

import re
import sys

import pytest
from deploy_support import (
    DOCKER_DIR,
    SCRIPTS_DIR,
    TF_DIR,
    TF_FILES,
    Terraform,
    block,
    handler_file,
    normalise,
    parse_file,
    role_actions,
    role_statements,
    statements,
    strip_expr,
)

from facepipe import names
from facepipe.names import StackNames
from facepipe.people import keys
from facepipe.settings import BOTH, DETECTION, RECOGNITION, settings_for, table

FUNCTION_RESOURCE = {DETECTION: "detection", RECOGNITION: "recognition"}

# Every AWS call each role may make. A new call in the code fails this test until it is granted
# in terraform/iam.tf and listed here (and a grant nobody uses fails it too).
EXPECTED_ACTIONS = {
    "detection": {
        "sqs:SendMessage",  # request queue (frames), response queue (frames without faces)
        "s3:PutObject",  # crops/ claim checks
        "dynamodb:DeleteItem",  # idempotency: one accepted frame per request_id
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "ssm:GetParameter",  # per-device tokens (only when var.device_tokens_ssm_parameter_name is set)
        "kms:Decrypt",  # its environment
        "kms:GenerateDataKey",  # SSE-KMS crops
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTelemetryRecords",
        "xray:PutTraceSegments",
    },
    "recognition": {
        "sqs:ReceiveMessage",  # event source mappings
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",  # + DeadLetters reads the redrive policy
        "sqs:GetQueueUrl",  # DeadLetters: source queue and DLQ by name
        "sqs:SendMessage",  # responses, reasoned dead letters
        "s3:GetObject",  # photos, claim-check crops (+ HeadObject: their size before the download)
        "s3:GetObjectVersion",  # photos by version id
        "s3:ListBucket",  # a missing crop or photo is 404, not 403
        "s3:PutObject",  # faces/
        "s3:DeleteObject",  # faces/ of a face whose person was erased while it was indexed
        "s3:DeleteObjectVersion",  # ... every version of it
        "s3:ListBucketVersions",  # ... found by ListObjectVersions (faces/ prefix only)
        "dynamodb:BatchGetItem",  # get_people (consistent reads: never cancelled by writes in flight)
        "dynamodb:ConditionCheckItem",  # tag_media: every tagged person still present (a presence shard)
        "dynamodb:DeleteItem",  # idempotency, registry entries of an erased person (LeadingKeys)
        "dynamodb:GetItem",  # profiles, the sent marker, idempotency
        "dynamodb:PutItem",  # create_person, record_face (transaction), idempotency
        "dynamodb:Query",  # faces_of, media, people by GSI1
        "dynamodb:UpdateItem",  # record_face (transaction), idempotency
        "ssm:GetParameter",  # Pinecone key
        "events:PutEvents",  # what it decided, on its own bus (facepipe.publishing)
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTelemetryRecords",
        "xray:PutTraceSegments",
    },
}
EXPECTED_CLIENT_ACTIONS = {
    "lambda:InvokeFunctionUrl",
    "lambda:InvokeFunction",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
    "s3:PutObject",
    "kms:GenerateDataKey",
}
# settings whose Terraform value is not simply a variable carrying the setting's default
NOT_FROM_VARIABLES = {
    "REQUEST_QUEUE_URL",
    "RESPONSE_QUEUE_URL",
    "DDB_TABLE_NAME",
    "S3_BUCKET_NAME",
    "PINECONE_SSM_PARAMETER_NAME",
    "FACENET_WEIGHTS_PATH",
    "VECTOR_BACKEND",
    "POWERTOOLS_SERVICE_NAME",  # the function's own name
    "EVENT_BUS_NAME",  # the stack's own bus (events.tf)
}


def function(tf: Terraform, name: str) -> dict:
    return tf.res("aws_lambda_function", FUNCTION_RESOURCE[name])


def environment(tf: Terraform, name: str) -> dict[str, str]:
    return block(function(tf, name), "environment")["variables"]


# --- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", TF_FILES, ids=lambda p: p.name)
def test_tf_file_parses(path):
    parsed = parse_file(path)
    assert parsed, f"{path.name} parsed to nothing"


def test_provider_and_terraform_versions_are_pinned(tf):
    (settings,) = tf.terraform
    assert settings["required_version"] == ">= 1.6"
    aws = settings["required_providers"][0]["aws"]
    assert aws["source"] == "hashicorp/aws"
    assert re.fullmatch(r"~> \d+\.\d+", aws["version"]), aws["version"]


# --- settings ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", BOTH)
def test_environment_is_exactly_the_settings_the_function_reads(tf, name):
    expected = {s.env for s in settings_for(name) if s.deployed}
    actual = set(environment(tf, name))
    assert actual - expected == set(), f"{name}: terraform sets settings the code does not read"
    assert expected - actual == set(), f"{name}: terraform misses settings the code reads"


def test_setting_defaults_are_the_variable_defaults(tf):
    by_env = {s.env: s for s in table()}
    checked = 0
    for name in BOTH:
        for env, value in environment(tf, name).items():
            if env in NOT_FROM_VARIABLES:
                continue
            match = re.fullmatch(r"\$\{(?:tostring\()?var\.([a-z0-9_]+)\)?\}", value)
            assert match, f"{env} = {value!r}: expected var.<name> or tostring(var.<name>)"
            default = tf.default(match.group(1))
            if isinstance(default, bool):
                default = str(default).lower()
            elif isinstance(default, float) and default.is_integer():
                default = int(default)
            assert str(default) == by_env[env].default_text, f"{env}: variable {match.group(1)} defaults to {default!r}"
            checked += 1
    assert checked >= 10


def test_embedding_model_variable_accepts_exactly_the_models_of_the_specs(tf):
    from facepipe.embedding.models import MODELS

    # terraform cannot read the specs: its validation names the models, and is held to them here
    variable = tf.variable["embedding_model"]
    condition = variable["validation"][0]["condition"]
    listed = re.fullmatch(r"\$\{contains\(\[(.*)\], var\.embedding_model\)\}", condition)
    assert listed, condition
    assert re.findall(r'"([^"]+)"', listed.group(1)) == list(MODELS)
    for name, spec in MODELS.items():
        assert f"{name} ({spec.dimension}-d" in variable["description"]


def test_fixed_settings(tf):
    recognition = environment(tf, RECOGNITION)
    assert recognition["VECTOR_BACKEND"] == "pinecone"
    assert recognition["PINECONE_SSM_PARAMETER_NAME"] == "${aws_ssm_parameter.pinecone.name}"
    assert strip_expr(recognition["FACENET_WEIGHTS_PATH"]) == "local.facenet_weights_path"
    for name in BOTH:
        env = environment(tf, name)
        assert env["DDB_TABLE_NAME"] == "${aws_dynamodb_table.this.name}"
        assert env["S3_BUCKET_NAME"] == "${aws_s3_bucket.this.bucket}"
        assert env["RESPONSE_QUEUE_URL"] == "${aws_sqs_queue.response.url}"
    assert environment(tf, DETECTION)["REQUEST_QUEUE_URL"] == "${aws_sqs_queue.request.url}"


def test_no_secret_is_an_environment_variable(tf):
    for name in BOTH:
        for env, value in environment(tf, name).items():
            if not env.endswith("_SSM_PARAMETER_NAME"):  # the name of where a secret is, not the secret
                assert not re.search(r"API_KEY|SECRET|PASSWORD|TOKEN", env), env
            assert "aws_ssm_parameter.pinecone.value" not in value


def test_weights_are_the_same_file_everywhere(tf):
    sys.path.insert(0, str(SCRIPTS_DIR))
    try:
        import download_weights
    finally:
        sys.path.remove(str(SCRIPTS_DIR))
    assert tf.locals["facenet_weights_path"] == str(download_weights.ONNX_IMAGE_PATH)  # the network the image exports
    base = (DOCKER_DIR / "base.Dockerfile").read_text()
    assert f"ARG VGGFACE2_SHA256={download_weights.SHA256}" in base
    assert f"ARG VGGFACE2_FILE={download_weights.FILENAME}" in base
    assert f"FACENET_WEIGHTS_PATH={download_weights.ONNX_IMAGE_PATH}" in base
    assert f"/opt/facepipe/onnx/{download_weights.ONNX_IMAGE_PATH.name}" in base  # what the export stage writes
    weights = pytest.importorskip("facepipe.embedding.weights")
    assert (weights.VGGFACE2.url, weights.VGGFACE2.sha256, weights.VGGFACE2.name) == (
        download_weights.URL,
        download_weights.SHA256,
        download_weights.FILENAME,
    )
    assert str(weights.IMAGE_WEIGHTS_DIR) == str(download_weights.IMAGE_DIR)
    facenet = pytest.importorskip("facepipe.embedding.facenet")
    assert download_weights.ONNX_IMAGE_PATH.name == facenet.ONNX_NAME


# --- functions -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", BOTH)
def test_handler_command_is_a_real_handler(tf, name):
    (command,) = block(function(tf, name), "image_config")["command"]
    assert command == f"{name.replace('-', '_')}.handler.handler"
    source = handler_file(command)
    assert source.is_file(), f"{command} -> {source} does not exist"
    assert re.search(r"^def handler\(", source.read_text(), re.M), f"{source} defines no handler()"


def test_function_dockerfile_default_handler_is_a_real_handler():
    text = (DOCKER_DIR / "function.Dockerfile").read_text()
    (command,) = re.findall(r"^ARG HANDLER=(\S+)$", text, re.M)
    source = handler_file(command)
    assert source.is_file(), command
    assert re.search(r"^def handler\(", source.read_text(), re.M), command
    for package in ("face_detection", "face_recognition"):
        assert f"COPY lambdas/{package} ${{LAMBDA_TASK_ROOT}}/{package}" in text
    # the core, through the stage that leaves its build package out (tests/test_boundaries.py)
    assert "COPY --chown=10001:10001 lambdas/facepipe /core/facepipe" in text
    assert "COPY --from=core --chown=0:0 /core/facepipe ${LAMBDA_TASK_ROOT}/facepipe" in text


@pytest.mark.parametrize("name", BOTH)
def test_function_is_an_arm64_image_with_tracing(tf, name):
    body = function(tf, name)
    assert body["package_type"] == "Image"
    assert body["architectures"] == ["arm64"]
    assert block(body, "tracing_config")["mode"] == "Active"
    assert body["function_name"] == f"${{local.{FUNCTION_RESOURCE[name]}_name}}"
    assert tf.locals[f"{FUNCTION_RESOURCE[name]}_name"] == f"${{var.name_prefix}}-{name}"
    log_group = tf.res("aws_cloudwatch_log_group", FUNCTION_RESOURCE[name])
    assert log_group["name"] == f"/aws/lambda/${{local.{FUNCTION_RESOURCE[name]}_name}}"
    assert log_group["retention_in_days"] == "${var.log_retention_days}"


def test_function_url_auth_is_iam_by_default_none_on_request(tf):
    url = tf.res("aws_lambda_function_url", "this")
    assert url["function_name"] == "${aws_lambda_function.detection.function_name}"
    assert url["authorization_type"] == "${var.function_url_auth_type}"
    variable = tf.variable["function_url_auth_type"]
    assert variable["default"] == "AWS_IAM"
    assert "AWS_IAM" in variable["validation"][0]["condition"]
    assert "NONE" in variable["validation"][0]["condition"]
    for permission in ("public_url", "public_url_invoke"):
        body = tf.res("aws_lambda_permission", permission)
        assert body["count"] == '${var.function_url_auth_type == "NONE" ? 1 : 0}'
    assert tf.res("aws_lambda_permission", "public_url_invoke")["invoked_via_function_url"] is True


# --- queues and event sources --------------------------------------------------------------


def test_event_source_mappings_report_batch_item_failures(tf):
    mappings = tf.resource["aws_lambda_event_source_mapping"]
    assert {strip_expr(m["event_source_arn"]) for m in mappings.values()} == {
        "aws_sqs_queue.request.arn",
        "aws_sqs_queue.photo.arn",
    }
    for name, mapping in mappings.items():
        assert mapping["function_response_types"] == ["ReportBatchItemFailures"], name
        assert mapping["function_name"] == "${aws_lambda_function.recognition.arn}", name
        assert mapping["batch_size"] == "${var.batch_size}", name
        assert mapping["maximum_batching_window_in_seconds"] == "${var.maximum_batching_window_in_seconds}", name
        assert block(mapping, "scaling_config")["maximum_concurrency"] == "${var.maximum_concurrency}", name
    assert tf.default("batch_size") == names.BATCH_SIZE
    assert tf.default("maximum_batching_window_in_seconds") == 0


def test_queues_redrive_except_the_response_queue(tf):
    queues = tf.resource["aws_sqs_queue"]
    assert len(queues) >= 4
    dlqs = {name for name in queues if name.endswith("_dlq") and name != "event_targets_dlq"}
    for name, queue in queues.items():
        if name == "event_targets_dlq":  # EventBridge targets' dead letters (events.tf): a DLQ itself
            assert queue["message_retention_seconds"] == 14 * 86400
            assert queue.get("sqs_managed_sse_enabled") is True
            continue
        assert queue.get("sqs_managed_sse_enabled") is True or "kms_master_key_id" in queue, f"{name} is not encrypted"
        if name in dlqs:
            assert queue["message_retention_seconds"] == "${local.dlq_retention_seconds}"
            assert tf.locals["dlq_retention_seconds"] == 14 * 86400
        elif name == "response":
            assert "redrive_policy" not in queue, "the response queue must not have a redrive policy (docs/contracts.md, Response)"
        else:
            policy = queue.get("redrive_policy", "")
            assert f"aws_sqs_queue.{name}_dlq.arn" in policy, f"{name} has no redrive policy to its DLQ"
            assert "maxReceiveCount = var.max_receive_count" in policy
    assert tf.default("max_receive_count") == names.MAX_RECEIVE_COUNT


def test_response_queue_has_a_short_visibility_and_one_hour_retention(tf):
    response = tf.res("aws_sqs_queue", "response")
    assert response["visibility_timeout_seconds"] <= 5
    assert response["visibility_timeout_seconds"] == names.RESPONSE_VISIBILITY_SECONDS
    assert response["message_retention_seconds"] == names.RESPONSE_RETENTION_SECONDS == 3600


@pytest.mark.parametrize("queue", ["request", "photo"])
def test_work_queue_visibility_is_six_recognition_timeouts(tf, queue):
    expr = tf.res("aws_sqs_queue", queue)["visibility_timeout_seconds"]
    assert "var.recognition_timeout" in tf.expand(strip_expr(expr)), "visibility must be computed from the timeout"
    visibility = tf.resolve(expr)
    assert visibility >= 6 * tf.default("recognition_timeout")
    assert tf.default("recognition_timeout") == names.RECOGNITION_TIMEOUT_SECONDS
    assert visibility == names.REQUEST_VISIBILITY_SECONDS


def test_resource_names_follow_facepipe_names(tf):
    stack = StackNames(prefix="{P}")

    def named(rtype: str, name: str) -> str:
        value = tf.res(rtype, name)["name"]
        for local in ("detection_name", "recognition_name"):
            value = value.replace(f"${{local.{local}}}", tf.locals[local])
        return value.replace("${var.name_prefix}", "{P}")

    assert named("aws_sqs_queue", "request") == stack.request_queue
    assert named("aws_sqs_queue", "request_dlq") == stack.request_dlq
    assert named("aws_sqs_queue", "photo") == stack.photo_queue
    assert named("aws_sqs_queue", "photo_dlq") == stack.photo_dlq
    assert named("aws_sqs_queue", "response") == stack.response_queue
    assert named("aws_dynamodb_table", "this") == stack.table
    assert tf.locals["detection_name"].replace("${var.name_prefix}", "{P}") == stack.detection_function
    assert tf.locals["recognition_name"].replace("${var.name_prefix}", "{P}") == stack.recognition_function
    bucket = tf.res("aws_s3_bucket", "this")["bucket"].replace("${var.name_prefix}", "{P}")
    assert bucket.startswith(stack.bucket.removesuffix(stack.bucket_suffix))
    assert tf.default("pinecone_ssm_parameter_name") == stack.ssm_parameter
    assert tf.default("name_prefix") == names.DEFAULT_PREFIX


# --- data ----------------------------------------------------------------------------------


def test_table_shape(tf):
    table = tf.res("aws_dynamodb_table", "this")
    assert table["billing_mode"] == "PAY_PER_REQUEST"
    assert (table["hash_key"], table["range_key"]) == ("PK", "SK")
    assert {a["name"]: a["type"] for a in table["attribute"]} == {"PK": "S", "SK": "S", "GSI1PK": "S", "GSI1SK": "S"}
    (gsi,) = table["global_secondary_index"]
    assert (gsi["name"], gsi["hash_key"], gsi["range_key"], gsi["projection_type"]) == (
        names.PEOPLE_INDEX,
        "GSI1PK",
        "GSI1SK",
        "ALL",
    )
    assert block(table, "ttl") == {"attribute_name": names.TTL_ATTRIBUTE, "enabled": True}
    assert block(table, "point_in_time_recovery")["enabled"] is True
    sse = block(table, "server_side_encryption")
    assert sse["enabled"] is True
    assert sse["kms_key_arn"] == "${aws_kms_key.this.arn}"


def test_bucket_is_private_versioned_encrypted_and_expires_crops(tf):
    access = tf.res("aws_s3_bucket_public_access_block", "this")
    for flag in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"):
        assert access[flag] is True, flag
    assert block(tf.res("aws_s3_bucket_versioning", "this"), "versioning_configuration")["status"] == "Enabled"
    sse = block(tf.res("aws_s3_bucket_server_side_encryption_configuration", "this"), "rule")
    assert block(sse, "apply_server_side_encryption_by_default")["sse_algorithm"] == "aws:kms"
    assert block(tf.res("aws_s3_bucket_ownership_controls", "this"), "rule")["object_ownership"] == "BucketOwnerEnforced"
    rules = {r["id"]: r for r in tf.res("aws_s3_bucket_lifecycle_configuration", "this")["rule"]}
    crops = rules["expire-claim-check-crops"]
    assert block(crops, "filter")["prefix"] == "${local.crops_prefix}"
    assert tf.locals["crops_prefix"] == "crops/"
    assert block(crops, "expiration")["days"] == "${local.claim_check_expiry_days}"


def test_claim_check_crops_outlive_every_message_that_names_them(tf):
    # A message lives up to its work queue's retention, then its DLQ's (a redrive from the DLQ
    # starts the work queue's clock again): its crops must still be there for the redrive.
    rules = {r["id"]: r for r in tf.res("aws_s3_bucket_lifecycle_configuration", "this")["rule"]}
    expiry_seconds = tf.resolve(block(rules["expire-claim-check-crops"], "expiration")["days"]) * 86400
    queues = tf.resource["aws_sqs_queue"]
    dlq_retention = tf.resolve(queues["request_dlq"]["message_retention_seconds"])
    assert dlq_retention == tf.resolve(queues["photo_dlq"]["message_retention_seconds"])
    for name in ("request", "photo"):
        work_retention = tf.resolve(queues[name]["message_retention_seconds"])
        assert expiry_seconds >= work_retention + dlq_retention, f"crops expire before a dead-lettered {name} message"
    assert expiry_seconds >= 86400 + tf.resolve("local.work_queue_retention_seconds") + dlq_retention  # a day to spare


def test_photo_notification_waits_for_the_queue_policy(tf):
    notification = tf.res("aws_s3_bucket_notification", "this")
    queue = block(notification, "queue")
    assert queue["queue_arn"] == "${aws_sqs_queue.photo.arn}"
    assert queue["events"] == ["s3:ObjectCreated:*"]
    assert queue["filter_prefix"] == "${var.photo_prefix}"
    assert notification["depends_on"] == ["${aws_sqs_queue_policy.photo}"]
    assert tf.default("photo_prefix") == "photos/"
    (statement,) = statements(tf.data["aws_iam_policy_document"]["photo_queue"])
    assert statement["actions"] == ["sqs:SendMessage"]
    conditions = {c["variable"]: c["values"] for c in statement["condition"]}
    assert conditions == {"aws:SourceArn": ["${aws_s3_bucket.this.arn}"], "aws:SourceAccount": ["${local.account_id}"]}


def test_pinecone_parameter_is_a_placeholder_terraform_never_resets(tf):
    parameter = tf.res("aws_ssm_parameter", "pinecone")
    assert parameter["type"] == "SecureString"
    assert parameter["name"] == "${var.pinecone_ssm_parameter_name}"
    assert parameter["value"] == "set-by-scripts/set-pinecone-key.sh"
    assert block(parameter, "lifecycle")["ignore_changes"] == ["value"]


# --- IAM -----------------------------------------------------------------------------------


def all_statements(tf: Terraform) -> list[tuple[str, dict]]:
    return [(name, s) for name, doc in tf.data["aws_iam_policy_document"].items() for s in statements(doc)]


def test_no_policy_statement_has_a_wildcard_action(tf):
    for document, statement in all_statements(tf):
        assert "not_actions" not in statement, f"{document}: NotAction grants everything else"
        if statement.get("effect") == "Deny":
            continue  # a Deny's wildcard takes away, it grants nothing (the TLS-only bucket policy)
        for action in statement["actions"]:
            assert "*" not in action, f"{document}: wildcard action {action!r}"
    # every policy in the stack is one of those documents: no inline JSON or managed policies
    for rtype in (
        "aws_iam_role_policy",
        "aws_iam_policy",
        "aws_kms_key",
        "aws_sqs_queue_policy",
        "aws_s3_bucket_policy",
    ):
        for name, body in tf.resource.get(rtype, {}).items():
            assert re.fullmatch(r"\$\{data\.aws_iam_policy_document\.\w+(\[0\])?\.json\}", body["policy"]), f"{rtype}.{name}"
    assert "aws_iam_role_policy_attachment" not in tf.resource
    assert all("managed_policy_arns" not in r for r in tf.resource["aws_iam_role"].values())


def test_wildcard_resources_only_for_xray_and_key_policies(tf):
    for document, statement in all_statements(tf):
        if "*" in statement.get("resources", []) and document != "kms":
            assert all(a.startswith("xray:") for a in statement["actions"]), f"{document}: {statement}"


@pytest.mark.parametrize("role", sorted(EXPECTED_ACTIONS))
def test_role_grants_exactly_the_calls_the_code_makes(tf, role):
    assert tf.res("aws_lambda_function", role)["role"] == f"${{aws_iam_role.{role}.arn}}"
    actual = role_actions(tf, role)
    assert actual - EXPECTED_ACTIONS[role] == set(), f"{role}: granted but not expected"
    assert EXPECTED_ACTIONS[role] - actual == set(), f"{role}: expected but not granted"


def test_client_policy_actions(tf):
    actions = {a for s in statements(tf.data["aws_iam_policy_document"]["client"]) for a in s["actions"]}
    assert actions == EXPECTED_CLIENT_ACTIONS


def test_object_grants_are_limited_to_their_prefixes(tf):
    def resources_of(document: str, action: str) -> set[str]:
        found = set()
        for statement in statements(tf.data["aws_iam_policy_document"][document]):
            if action in statement["actions"]:
                found.update(statement["resources"])
        return found

    bucket = "${aws_s3_bucket.this.arn}"
    assert resources_of("detection", "s3:PutObject") == {f"{bucket}/${{local.crops_prefix}}*"}
    assert resources_of("recognition", "s3:PutObject") == {
        f"{bucket}/${{local.faces_prefix}}*",
        f"{bucket}/${{local.sightings_prefix}}*",  # the crops of recorded sightings (expire with the review)
        f"{bucket}/${{local.review_prefix}}*",  # the crops of unknown faces kept for review
    }
    assert resources_of("recognition", "s3:GetObject") == {
        f"{bucket}/${{var.photo_prefix}}*",
        f"{bucket}/${{local.crops_prefix}}*",
    }
    assert resources_of("detection", "sqs:SendMessage") == {
        "${aws_sqs_queue.request.arn}",
        "${aws_sqs_queue.response.arn}",
    }
    assert resources_of("recognition", "sqs:SendMessage") == {
        "${aws_sqs_queue.response.arn}",
        "${aws_sqs_queue.request_dlq.arn}",
        "${aws_sqs_queue.photo_dlq.arn}",
    }
    assert resources_of("recognition", "ssm:GetParameter") == {"${aws_ssm_parameter.pinecone.arn}"}
    assert resources_of("recognition", "s3:ListBucket") == {bucket}
    assert resources_of("detection", "ssm:GetParameter") == {"${aws_ssm_parameter.device_tokens[0].arn}"}


def conditions(statement: dict) -> dict[str, tuple[str, object]]:
    """A statement's conditions by variable: (test, values)."""
    return {c["variable"]: (c["test"], c["values"]) for c in statement.get("condition", [])}


def test_idempotency_partition_is_the_codes(tf):
    assert tf.locals["idempotency_partition"] == names.IDEMPOTENCY_PARTITION


def test_detection_touches_only_idempotency_items(tf):
    # GIVEN the detection role, which parses untrusted images
    table_statements = [s for s in role_statements(tf, "detection") if any(a.startswith("dynamodb:") for a in s["actions"])]
    assert table_statements
    for statement in table_statements:
        # THEN every table grant is limited to the partition of Powertools' idempotency records
        test, values = conditions(statement)["dynamodb:LeadingKeys"]
        assert test == "ForAllValues:StringEquals"
        assert tf.strings(values) == [names.IDEMPOTENCY_PARTITION]
        assert not any(a in statement["actions"] for a in ("dynamodb:Query", "dynamodb:Scan", "dynamodb:BatchWriteItem"))


def test_recognition_deletes_only_its_own_records(tf):
    deleting = [s for s in role_statements(tf, "recognition") if "dynamodb:DeleteItem" in s["actions"]]
    assert len(deleting) == 1
    (statement,) = deleting
    assert statement["actions"] == ["dynamodb:DeleteItem"]
    test, values = conditions(statement)["dynamodb:LeadingKeys"]
    assert test == "ForAllValues:StringLike"
    assert tf.strings(values) == [names.IDEMPOTENCY_PARTITION, keys.strangers_pk("*")]
    assert statement["resources"] == ["${aws_dynamodb_table.this.arn}"]  # not the index


@pytest.mark.parametrize("role", sorted(EXPECTED_ACTIONS))
def test_roles_use_the_stack_key_only_through_its_services(tf, role):
    kms = [s for s in role_statements(tf, role) if any(a.startswith("kms:") for a in s["actions"])]
    assert kms
    for statement in kms:
        test, values = conditions(statement)["kms:ViaService"]
        assert test == "StringEquals"
        assert values == "${local.kms_via_services}"
    services = tf.locals["kms_via_services"]
    for service in ("lambda", "s3", "dynamodb", "ssm"):
        assert f'"{service}"' in services
    assert "${var.region}.amazonaws.com" in services


def test_client_kms_grant_is_via_s3(tf):
    (statement,) = [s for s in statements(tf.data["aws_iam_policy_document"]["client"]) if s["actions"] == ["kms:GenerateDataKey"]]
    assert conditions(statement)["kms:ViaService"] == ("StringEquals", ["s3.${var.region}.amazonaws.com"])


def test_bucket_refuses_every_plain_http_request(tf):
    (statement,) = statements(tf.data["aws_iam_policy_document"]["bucket"])
    assert statement["effect"] == "Deny"
    assert statement["actions"] == ["s3:*"]
    assert set(statement["resources"]) == {"${aws_s3_bucket.this.arn}", "${aws_s3_bucket.this.arn}/*"}
    assert block(statement, "principals") == {"type": "AWS", "identifiers": ["*"]}
    assert conditions(statement) == {"aws:SecureTransport": ("Bool", ["false"])}


def test_device_tokens_parameter_and_grant_exist_only_when_named(tf):
    parameter = tf.res("aws_ssm_parameter", "device_tokens")
    assert parameter["count"] == '${var.device_tokens_ssm_parameter_name == "" ? 0 : 1}'
    assert parameter["type"] == "SecureString"
    assert parameter["key_id"] == "${aws_kms_key.this.arn}"
    assert block(parameter, "lifecycle")["ignore_changes"] == ["value"]
    (dynamic,) = tf.data["aws_iam_policy_document"]["detection"]["dynamic"]
    assert dynamic["statement"]["for_each"].startswith('${var.device_tokens_ssm_parameter_name == "" ? []')
    assert environment(tf, DETECTION)["DEVICE_TOKENS_SSM_PARAMETER_NAME"] == "${var.device_tokens_ssm_parameter_name}"
    assert tf.default("device_tokens_ssm_parameter_name") == ""


def test_reserved_concurrency_bounds_both_functions_by_default(tf):
    detection, recognition = tf.default("detection_reserved_concurrency"), tf.default("recognition_reserved_concurrency")
    assert isinstance(detection, int)
    assert detection >= 1
    assert isinstance(recognition, int)
    assert recognition >= 2 * tf.default("maximum_concurrency")  # the two event source mappings' share
    for name in BOTH:
        resource = FUNCTION_RESOURCE[name]
        assert function(tf, name)["reserved_concurrent_executions"] == f"${{var.{resource}_reserved_concurrency}}"
    preconditions = [p["condition"] for p in block(function(tf, DETECTION), "lifecycle")["precondition"]]
    assert '${var.function_url_auth_type == "AWS_IAM" || var.detection_reserved_concurrency != null}' in preconditions


# --- hygiene -------------------------------------------------------------------------------


def test_every_variable_is_typed_described_and_defaulted(tf):
    for name, variable in tf.variable.items():
        assert "type" in variable, name
        assert variable.get("description"), name
        assert "default" in variable, name


def test_every_output_is_described(tf):
    for name, output in tf.output.items():
        assert output.get("description"), name


def test_checkov_skips_are_inline_with_a_reason():
    pattern = re.compile(r"#\s*checkov:skip=(\S+?):(.*)$")
    for path in sorted(TF_DIR.glob("*.tf")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "checkov:skip" not in line:
                continue
            match = pattern.search(line)
            assert match, f"{path.name}:{number}: skip without a reason"
            assert re.fullmatch(r"CKV2?_AWS_\d+", match.group(1)), f"{path.name}:{number}: {match.group(1)}"
            assert len(match.group(2).strip()) >= 30, f"{path.name}:{number}: give a real reason"


# --- state ---------------------------------------------------------------------------------


def test_remote_state_example_is_encrypted_and_locked():
    backend = parse_file(TF_DIR / "backend.tf.example")
    (settings,) = backend["terraform"]
    (s3,) = [b["s3"] for b in settings["backend"] if "s3" in b]
    assert s3 == {}, "a partial configuration: the settings belong in backend.hcl"
    with (TF_DIR / "backend.hcl.example").open() as handle:
        import hcl2

        config = normalise(hcl2.load(handle))
    assert config["encrypt"] is True
    assert config["kms_key_id"].startswith("arn:aws:kms:")
    assert config["use_lockfile"] is True or config.get("dynamodb_table")
    assert {"bucket", "key", "region"} <= set(config)
    deploy = (TF_DIR.parent / "docs" / "deploy.md").read_text()
    assert "backend.tf.example" in deploy
    assert "backend.hcl.example" in deploy
    assert "TF_INIT_ARGS='-backend-config=backend.hcl'" in deploy
    assert not (TF_DIR / "backend.tf").exists() or "backend" in (TF_DIR / "backend.tf").read_text()
