# What recognition decided, as EventBridge events (docs/events.md): a custom bus, its archive and
# schema discoverer, and optional alerts that need no code: e-mail through SNS for unknown
# visitors and watched arrivals, a webhook through an API destination. Every target has a
# dead-letter queue, a retry policy and an alarm on failed invocations.

locals {
  alerts_by_email = length(var.alert_emails) > 0
  alerts_by_hook  = var.alert_webhook_url != ""
  alert_sources   = length(var.alert_sources) > 0 ? { source = var.alert_sources } : {}
  # the alerts: an unknown visitor, and (with a watch list) the arrival of a watched name
  unknown_visitor = {
    "unknown-visitor" = { source = ["facepipe"], "detail-type" = ["Unknown Visitor"], detail = local.alert_sources }
  }
  watched_arrival = length(var.alert_watch_list) == 0 ? {} : {
    "watched-arrival" = { source = ["facepipe"], "detail-type" = ["Person Arrived"], detail = merge(local.alert_sources, { name = var.alert_watch_list }) }
  }
  alert_patterns = merge(local.unknown_visitor, local.watched_arrival)
  alert_message = "facepipe <type>: <name> at <source> (<request_id>)"
  # what the message reads from an event, for every target
  alert_input_paths = {
    type       = "$.detail-type"
    name       = "$.detail.name"
    source     = "$.detail.source"
    request_id = "$.detail.request_id"
  }
  alert_rules   = local.alerts_by_email || local.alerts_by_hook ? local.alert_patterns : {}
}

resource "aws_cloudwatch_event_bus" "this" {
  name = "${var.name_prefix}-events"
}

resource "aws_cloudwatch_event_archive" "this" {
  count            = var.event_archive_days > 0 ? 1 : 0
  name             = "${var.name_prefix}-events"
  description      = "facepipe's events, kept ${var.event_archive_days} days for replay (docs/events.md: what it keeps)"
  event_source_arn = aws_cloudwatch_event_bus.this.arn
  retention_days   = var.event_archive_days
}

# The schema registry learns the detail schemas from the events themselves.
resource "aws_schemas_discoverer" "this" {
  count       = var.event_schema_discovery ? 1 : 0
  source_arn  = aws_cloudwatch_event_bus.this.arn
  description = "facepipe's event schemas (docs/events.md)"
}

resource "aws_cloudwatch_event_rule" "alert" {
  for_each       = local.alert_rules
  name           = "${var.name_prefix}-${each.key}"
  description    = "facepipe alert: ${each.key}"
  event_bus_name = aws_cloudwatch_event_bus.this.name
  event_pattern  = jsonencode({ for k, v in each.value : k => v if v != {} })
}

# --- e-mail through SNS --------------------------------------------------------------------

resource "aws_sns_topic" "alerts" {
  count             = local.alerts_by_email ? 1 : 0
  name              = "${var.name_prefix}-alerts"
  kms_master_key_id = aws_kms_key.this.arn
}

resource "aws_sns_topic_policy" "alerts" {
  count  = local.alerts_by_email ? 1 : 0
  arn    = aws_sns_topic.alerts[0].arn
  policy = data.aws_iam_policy_document.alerts_topic[0].json
}

data "aws_iam_policy_document" "alerts_topic" {
  count = local.alerts_by_email ? 1 : 0
  statement {
    sid       = "EventBridgePublishesAlerts"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts[0].arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [for rule in aws_cloudwatch_event_rule.alert : rule.arn]
    }
  }
}

resource "aws_sns_topic_subscription" "alerts" {
  for_each  = local.alerts_by_email ? toset(var.alert_emails) : toset([])
  topic_arn = aws_sns_topic.alerts[0].arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_cloudwatch_event_target" "email" {
  for_each       = local.alerts_by_email ? local.alert_rules : {}
  rule           = aws_cloudwatch_event_rule.alert[each.key].name
  event_bus_name = aws_cloudwatch_event_bus.this.name
  target_id      = "email"
  arn            = aws_sns_topic.alerts[0].arn

  input_transformer {
    input_paths    = local.alert_input_paths
    input_template = jsonencode(local.alert_message)
  }

  retry_policy {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 10
  }

  dead_letter_config {
    arn = aws_sqs_queue.event_targets_dlq[0].arn
  }
}

# --- a webhook through an API destination --------------------------------------------------

resource "aws_cloudwatch_event_connection" "webhook" {
  count              = local.alerts_by_hook ? 1 : 0
  name               = "${var.name_prefix}-webhook"
  description        = "facepipe alerts to ${var.alert_webhook_url}"
  authorization_type = "API_KEY"

  auth_parameters {
    api_key {
      key   = var.alert_webhook_header
      value = var.alert_webhook_secret
    }
  }
}

resource "aws_cloudwatch_event_api_destination" "webhook" {
  count                            = local.alerts_by_hook ? 1 : 0
  name                             = "${var.name_prefix}-webhook"
  description                      = "facepipe alerts"
  invocation_endpoint              = var.alert_webhook_url
  http_method                      = "POST"
  invocation_rate_limit_per_second = 5
  connection_arn                   = aws_cloudwatch_event_connection.webhook[0].arn
}

resource "aws_iam_role" "webhook" {
  count              = local.alerts_by_hook ? 1 : 0
  name               = "${var.name_prefix}-webhook"
  description        = "EventBridge invokes facepipe's alert webhook"
  assume_role_policy = data.aws_iam_policy_document.events_assume.json
}

data "aws_iam_policy_document" "events_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "webhook" {
  count  = local.alerts_by_hook ? 1 : 0
  name   = "${var.name_prefix}-webhook"
  role   = aws_iam_role.webhook[0].id
  policy = data.aws_iam_policy_document.webhook[0].json
}

data "aws_iam_policy_document" "webhook" {
  count = local.alerts_by_hook ? 1 : 0
  statement {
    sid       = "InvokeTheWebhook"
    actions   = ["events:InvokeApiDestination"]
    resources = [aws_cloudwatch_event_api_destination.webhook[0].arn]
  }
}

resource "aws_cloudwatch_event_target" "webhook" {
  for_each       = local.alerts_by_hook ? local.alert_rules : {}
  rule           = aws_cloudwatch_event_rule.alert[each.key].name
  event_bus_name = aws_cloudwatch_event_bus.this.name
  target_id      = "webhook"
  arn            = aws_cloudwatch_event_api_destination.webhook[0].arn
  role_arn       = aws_iam_role.webhook[0].arn

  input_transformer {
    input_paths    = local.alert_input_paths
    input_template = jsonencode({ text = local.alert_message })
  }

  retry_policy {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 10
  }

  dead_letter_config {
    arn = aws_sqs_queue.event_targets_dlq[0].arn
  }
}

# --- what every target shares: a dead-letter queue and alarms ------------------------------

resource "aws_sqs_queue" "event_targets_dlq" {
  count                     = length(local.alert_rules) > 0 ? 1 : 0
  name                      = "${var.name_prefix}-event-targets-dlq"
  message_retention_seconds = 1209600 # 14 days, the SQS maximum
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue_policy" "event_targets_dlq" {
  count     = length(local.alert_rules) > 0 ? 1 : 0
  queue_url = aws_sqs_queue.event_targets_dlq[0].id
  policy    = data.aws_iam_policy_document.event_targets_dlq[0].json
}

data "aws_iam_policy_document" "event_targets_dlq" {
  count = length(local.alert_rules) > 0 ? 1 : 0
  statement {
    sid       = "EventBridgeDeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.event_targets_dlq[0].arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [for rule in aws_cloudwatch_event_rule.alert : rule.arn]
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "alert_failures" {
  for_each            = local.alert_rules
  alarm_name          = "${var.name_prefix}-${each.key}-failed-invocations"
  alarm_description   = "EventBridge could not deliver the ${each.key} alert (see the ${var.name_prefix}-event-targets-dlq queue)."
  namespace           = "AWS/Events"
  metric_name         = "FailedInvocations"
  dimensions          = { EventBusName = aws_cloudwatch_event_bus.this.name, RuleName = aws_cloudwatch_event_rule.alert[each.key].name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}
