# Inputs of the facepipe stack. Variables that feed a function setting carry the default
# of that setting in lambdas/facepipe/settings.py (tests/deploy checks they agree).

# --- naming and placement ------------------------------------------------------------------

variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region code such as us-east-1."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name (functions, queues, table, bucket, repository)."
  type        = string
  default     = "facepipe"

  validation {
    # The bucket name (prefix + "-photos-" + account id + "-" + region) must fit in 63 characters.
    condition     = can(regex("^[a-z][a-z0-9-]{0,22}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 2-24 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "tags" {
  description = "Extra tags applied to every resource (merged into the provider's default_tags)."
  type        = map(string)
  default     = {}
}

# --- images --------------------------------------------------------------------------------

variable "image_tag" {
  description = "Tag suffix pushed by scripts/build-and-push.sh (the git sha): images are <repo>:face-detection-<tag> and <repo>:face-recognition-<tag>. Ignored for a function whose *_image_uri is set."
  type        = string
  default     = ""

  validation {
    condition     = var.image_tag == "" || can(regex("^[A-Za-z0-9_.-]{1,100}$", var.image_tag))
    error_message = "image_tag must be a valid Docker tag suffix (letters, digits, '_', '.', '-')."
  }
}

variable "detection_image_uri" {
  description = "Full ECR image URI (tag or digest) for face-detection; empty means <ecr repository>:face-detection-<image_tag>."
  type        = string
  default     = ""

  validation {
    condition     = var.detection_image_uri == "" || can(regex("^[0-9]{12}\\.dkr\\.ecr\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/[a-z0-9._/-]+(:[A-Za-z0-9_.-]+|@sha256:[0-9a-f]{64})$", var.detection_image_uri))
    error_message = "detection_image_uri must be an ECR image URI with a tag or digest (Lambda only runs images from ECR)."
  }
}

variable "recognition_image_uri" {
  description = "Full ECR image URI (tag or digest) for face-recognition; empty means <ecr repository>:face-recognition-<image_tag>."
  type        = string
  default     = ""

  validation {
    condition     = var.recognition_image_uri == "" || can(regex("^[0-9]{12}\\.dkr\\.ecr\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/[a-z0-9._/-]+(:[A-Za-z0-9_.-]+|@sha256:[0-9a-f]{64})$", var.recognition_image_uri))
    error_message = "recognition_image_uri must be an ECR image URI with a tag or digest (Lambda only runs images from ECR)."
  }
}

# --- function sizing -----------------------------------------------------------------------

variable "detection_memory_size" {
  description = "face-detection memory in MB (also buys vCPUs: 1769 MB = 1 vCPU). Default from `facepipe bench` (docs/performance.md): one thread serves MTCNN best, peak RSS ~0.8 GB."
  type        = number
  default     = 1769

  validation {
    condition     = var.detection_memory_size >= 128 && var.detection_memory_size <= 10240
    error_message = "detection_memory_size must be between 128 and 10240 MB."
  }
}

variable "recognition_memory_size" {
  description = "face-recognition memory in MB (also buys vCPUs: 1769 MB = 1 vCPU). Default from `facepipe bench` (docs/performance.md): InceptionResnetV1 embeds a batch 1.6x faster on 2 vCPUs (2 torch threads), peak RSS ~1 GB. With EMBEDDING_MODEL=dlib-resnet a second vCPU buys nothing: 1769. Re-measure on arm64."
  type        = number
  default     = 3538

  validation {
    condition     = var.recognition_memory_size >= 128 && var.recognition_memory_size <= 10240
    error_message = "recognition_memory_size must be between 128 and 10240 MB."
  }
}

variable "detection_timeout" {
  description = "face-detection timeout in seconds (the camera waits for it)."
  type        = number
  default     = 30

  validation {
    condition     = var.detection_timeout >= 1 && var.detection_timeout <= 900
    error_message = "detection_timeout must be between 1 and 900 seconds."
  }
}

variable "recognition_timeout" {
  description = "face-recognition timeout in seconds; the request and photo queues' visibility timeout is 6x this plus the batching window."
  type        = number
  default     = 60

  validation {
    condition     = var.recognition_timeout >= 1 && var.recognition_timeout <= 900
    error_message = "recognition_timeout must be between 1 and 900 seconds."
  }
}

variable "detection_ephemeral_storage" {
  description = "face-detection /tmp size in MB."
  type        = number
  default     = 512

  validation {
    condition     = var.detection_ephemeral_storage >= 512 && var.detection_ephemeral_storage <= 10240
    error_message = "detection_ephemeral_storage must be between 512 and 10240 MB."
  }
}

variable "recognition_ephemeral_storage" {
  description = "face-recognition /tmp size in MB."
  type        = number
  default     = 512

  validation {
    condition     = var.recognition_ephemeral_storage >= 512 && var.recognition_ephemeral_storage <= 10240
    error_message = "recognition_ephemeral_storage must be between 512 and 10240 MB."
  }
}

variable "detection_reserved_concurrency" {
  description = "Reserved concurrency of face-detection: the most frames processed at once, so a flood through a public URL can neither exhaust the account's concurrency nor starve recognition. null = unreserved (only with auth AWS_IAM; reserving fails where the quota would leave fewer than 100 unreserved, e.g. new accounts with a quota of 10)."
  type        = number
  default     = 10

  validation {
    condition     = var.detection_reserved_concurrency == null || try(var.detection_reserved_concurrency >= 1 && floor(var.detection_reserved_concurrency) == var.detection_reserved_concurrency, false)
    error_message = "detection_reserved_concurrency must be null or a whole number >= 1 (0 would stop the function)."
  }
}

variable "recognition_reserved_concurrency" {
  description = "Reserved concurrency of face-recognition: guaranteed to it whatever else runs in the account. Must be >= 2 x maximum_concurrency (two event source mappings); null = unreserved."
  type        = number
  default     = 20

  validation {
    condition     = var.recognition_reserved_concurrency == null || try(var.recognition_reserved_concurrency >= 2 && floor(var.recognition_reserved_concurrency) == var.recognition_reserved_concurrency, false)
    error_message = "recognition_reserved_concurrency must be null or a whole number >= 2."
  }
}

# --- queues and event source mappings ------------------------------------------------------

variable "batch_size" {
  description = "Messages per face-recognition invocation (request and photo queues)."
  type        = number
  default     = 10

  validation {
    condition     = var.batch_size >= 1 && var.batch_size <= 10000
    error_message = "batch_size must be between 1 and 10000 (above 10 needs maximum_batching_window_in_seconds >= 1)."
  }
}

variable "maximum_batching_window_in_seconds" {
  description = "How long the event source mapping gathers a batch; 0 = lowest latency."
  type        = number
  default     = 0

  validation {
    condition     = var.maximum_batching_window_in_seconds >= 0 && var.maximum_batching_window_in_seconds <= 300
    error_message = "maximum_batching_window_in_seconds must be between 0 and 300."
  }
}

variable "maximum_concurrency" {
  description = "Most concurrent face-recognition invocations each SQS event source mapping may drive."
  type        = number
  default     = 10

  validation {
    condition     = var.maximum_concurrency >= 2 && var.maximum_concurrency <= 1000
    error_message = "maximum_concurrency must be between 2 and 1000 (SQS event source mapping limits)."
  }
}

variable "max_receive_count" {
  description = "Receives before a request or photo message moves to its dead-letter queue."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "max_receive_count must be between 1 and 1000."
  }
}

# --- recognition settings ------------------------------------------------------------------

variable "embedding_model" {
  description = "EMBEDDING_MODEL: facenet-vggface2 (512-d) or dlib-resnet (128-d; needs an image built with INCLUDE_DLIB=1). The Pinecone index dimension must match."
  type        = string
  default     = "facenet-vggface2"

  validation {
    condition     = contains(["facenet-vggface2", "dlib-resnet"], var.embedding_model)
    error_message = "embedding_model must be facenet-vggface2 or dlib-resnet."
  }
}

variable "face_similarity_threshold" {
  description = "FACE_SIMILARITY_THRESHOLD: cosine similarity two good-quality faces need to be one person (fair/poor faces need the model's calibrated steps more); empty = the model's calibrated default (dlib 0.93, facenet 0.70)."
  type        = string
  default     = ""

  validation {
    condition     = var.face_similarity_threshold == "" || try(tonumber(var.face_similarity_threshold) >= -1 && tonumber(var.face_similarity_threshold) <= 1, false)
    error_message = "face_similarity_threshold must be empty or a number in [-1, 1]."
  }
}

variable "face_similarity_threshold_fair" {
  description = "FACE_SIMILARITY_THRESHOLD_FAIR: cosine similarity a fair pair (a face under 40 px, or turned) needs; empty = FACE_SIMILARITY_THRESHOLD plus the model's step (`facepipe calibrate --from-review` suggests one)."
  type        = string
  default     = ""

  validation {
    condition     = var.face_similarity_threshold_fair == "" || try(tonumber(var.face_similarity_threshold_fair) >= -1 && tonumber(var.face_similarity_threshold_fair) <= 1, false)
    error_message = "face_similarity_threshold_fair must be empty or a number in [-1, 1]."
  }
}

variable "face_similarity_threshold_poor" {
  description = "FACE_SIMILARITY_THRESHOLD_POOR: cosine similarity a poor pair (a face under 24 px, blurred, or turned away) needs; empty = FACE_SIMILARITY_THRESHOLD plus the model's step."
  type        = string
  default     = ""

  validation {
    condition     = var.face_similarity_threshold_poor == "" || try(tonumber(var.face_similarity_threshold_poor) >= -1 && tonumber(var.face_similarity_threshold_poor) <= 1, false)
    error_message = "face_similarity_threshold_poor must be empty or a number in [-1, 1]."
  }
}

variable "face_recognition_tolerance" {
  description = "FACE_RECOGNITION_TOLERANCE: seed 000's dlib distance, mapped to similarity 1 - d^2/2 when no threshold is set; empty = unused."
  type        = string
  default     = ""

  validation {
    condition     = var.face_recognition_tolerance == "" || try(tonumber(var.face_recognition_tolerance) > 0 && tonumber(var.face_recognition_tolerance) <= 2, false)
    error_message = "face_recognition_tolerance must be empty or a number in (0, 2]."
  }
}

variable "face_match_margin" {
  description = "FACE_MATCH_MARGIN: how much the best person must beat the second-best by; empty = the model's calibrated default (dlib 0.06, facenet 0.10)."
  type        = string
  default     = ""

  validation {
    condition     = var.face_match_margin == "" || try(tonumber(var.face_match_margin) >= 0 && tonumber(var.face_match_margin) <= 1, false)
    error_message = "face_match_margin must be empty or a number in [0, 1]."
  }
}

variable "pinecone_index_name" {
  description = "PINECONE_INDEX_NAME: Pinecone index (used when no host is given)."
  type        = string
  default     = "facepipe"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,44}$", var.pinecone_index_name))
    error_message = "pinecone_index_name must be 1-45 lowercase letters, digits or hyphens."
  }
}

variable "pinecone_index_host" {
  description = "PINECONE_INDEX_HOST: index host printed by scripts/create_pinecone_index.py; set it to skip a describe call per cold start."
  type        = string
  default     = ""

  validation {
    condition     = var.pinecone_index_host == "" || can(regex("^(https://)?[A-Za-z0-9.-]+$", var.pinecone_index_host))
    error_message = "pinecone_index_host must be empty or a host name such as facepipe-abc123.svc.aped-1234.pinecone.io."
  }
}

variable "pinecone_namespace" {
  description = "PINECONE_NAMESPACE: empty means faces-<embedding_model>."
  type        = string
  default     = ""
}

variable "pinecone_ssm_parameter_name" {
  description = "Name of the SSM SecureString that holds the Pinecone API key (PINECONE_SSM_PARAMETER_NAME)."
  type        = string
  default     = "/pinecone/facepipe"

  validation {
    condition     = can(regex("^/[A-Za-z0-9_.\\-/]{1,1010}$", var.pinecone_ssm_parameter_name))
    error_message = "pinecone_ssm_parameter_name must be a hierarchical SSM name starting with '/'."
  }
}

# --- detection settings (both functions read some) -----------------------------------------

variable "min_face_score" {
  description = "MIN_FACE_SCORE: MTCNN probability a face needs; faces under 128 px need at least 0.95, under 64 px 0.97."
  type        = number
  default     = 0.9

  validation {
    condition     = var.min_face_score >= 0 && var.min_face_score <= 1
    error_message = "min_face_score must be between 0 and 1."
  }
}

variable "min_face_size" {
  description = "MIN_FACE_SIZE: smallest face (pixels of the original frame) searched for."
  type        = number
  default     = 16

  validation {
    condition     = var.min_face_size >= 12 && var.min_face_size <= 4096 && floor(var.min_face_size) == var.min_face_size
    error_message = "min_face_size must be an integer between 12 and 4096."
  }
}

variable "min_face_fraction" {
  description = "MIN_FACE_FRACTION: the smallest face searched is also this share of the frame's short side, up to 32 px (1/32: 640x480 down to 16 px, 1080p down to 32 px); 0 searches every frame down to min_face_size."
  type        = number
  default     = 0.03125

  validation {
    condition     = var.min_face_fraction >= 0 && var.min_face_fraction <= 0.5
    error_message = "min_face_fraction must be between 0 and 0.5."
  }
}

variable "detection_pixel_budget" {
  description = "DETECTION_PIXEL_BUDGET: above this many pixels the smallest face searched grows with sqrt(pixels / budget)."
  type        = number
  default     = 2000000

  validation {
    condition     = var.detection_pixel_budget >= 100000 && var.detection_pixel_budget <= 100000000 && floor(var.detection_pixel_budget) == var.detection_pixel_budget
    error_message = "detection_pixel_budget must be an integer between 100000 and 100000000."
  }
}

variable "max_faces_per_frame" {
  description = "MAX_FACES_PER_FRAME: most faces face-detection sends to recognition per frame; the largest are kept and the rest reported as skipped."
  type        = number
  default     = 100

  validation {
    condition     = var.max_faces_per_frame >= 1 && var.max_faces_per_frame <= 1000 && floor(var.max_faces_per_frame) == var.max_faces_per_frame
    error_message = "max_faces_per_frame must be an integer between 1 and 1000."
  }
}

variable "max_body_bytes" {
  description = "MAX_BODY_BYTES: largest function URL body accepted (413 above). A buffered function URL accepts at most 6 MB anyway."
  type        = number
  default     = 6291456

  validation {
    condition     = var.max_body_bytes >= 1024 && var.max_body_bytes <= 6291456 && floor(var.max_body_bytes) == var.max_body_bytes
    error_message = "max_body_bytes must be an integer between 1024 and 6291456 (the function URL payload limit)."
  }
}

variable "max_image_pixels" {
  description = "MAX_IMAGE_PIXELS: largest image (width x height) decoded (413 above)."
  type        = number
  default     = 40000000

  validation {
    condition     = var.max_image_pixels >= 10000 && var.max_image_pixels <= 2147483648 && floor(var.max_image_pixels) == var.max_image_pixels
    error_message = "max_image_pixels must be an integer between 10000 and 2147483648."
  }
}

variable "max_photo_bytes" {
  description = "MAX_PHOTO_BYTES: largest photo upload face-recognition reads; checked with HeadObject before any download (dead-lettered with its reason above)."
  type        = number
  default     = 52428800

  validation {
    condition     = var.max_photo_bytes >= 1024 && var.max_photo_bytes <= 5368709120 && floor(var.max_photo_bytes) == var.max_photo_bytes
    error_message = "max_photo_bytes must be an integer between 1024 and 5368709120 (5 GiB)."
  }
}

variable "log_level" {
  description = "LOG_LEVEL of both functions."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING, ERROR or CRITICAL."
  }
}

# --- photo ingest --------------------------------------------------------------------------

variable "photo_prefix" {
  description = "PHOTO_PREFIX: key prefix of photo uploads that are recognised (S3 notification filter)."
  type        = string
  default     = "photos/"

  validation {
    # crops/ and faces/ are written by the functions themselves: ingesting them would loop.
    condition     = can(regex("^[A-Za-z0-9!_.*'()-][A-Za-z0-9!_.*'()/-]*/$", var.photo_prefix)) && !startswith(var.photo_prefix, "crops/") && !startswith(var.photo_prefix, "faces/")
    error_message = "photo_prefix must be a non-empty key prefix ending in '/', outside crops/ and faces/."
  }
}

variable "photo_retention_days" {
  description = "Days an uploaded photo (under photo_prefix) is kept; null keeps it until its uploader deletes it. Erasing a person does not delete the photos they appear in (docs/people.md)."
  type        = number
  default     = null

  validation {
    condition     = var.photo_retention_days == null || try(var.photo_retention_days >= 1, false)
    error_message = "photo_retention_days must be null or at least 1."
  }
}

variable "keep_unknown_faces" {
  description = "KEEP_UNKNOWN_FACES: keep unknown faces (crop, vector, quality, source, time) for review, so people can name them; false keeps nothing of them."
  type        = bool
  default     = true
}

variable "review_retention_days" {
  description = "REVIEW_RETENTION_DAYS: days an unknown face kept for review, and a recorded sighting's crop, are kept unless named (DynamoDB TTL, S3 lifecycle of review/ and sightings/)."
  type        = number
  default     = 14

  validation {
    condition     = var.review_retention_days >= 1 && var.review_retention_days <= 3650
    error_message = "review_retention_days must be 1-3650."
  }
}

variable "photo_responses" {
  description = "PHOTO_RESPONSES: also send a response-queue message for each S3 photo."
  type        = bool
  default     = false
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete the photo bucket and the image repository together with their objects, versions and images."
  type        = bool
  default     = false
}

# --- access --------------------------------------------------------------------------------

variable "function_url_auth_type" {
  description = "face-detection function URL auth: AWS_IAM (SigV4-signed callers with lambda:InvokeFunctionUrl) or NONE (public; the seed's grading client sends unsigned requests)."
  type        = string
  default     = "AWS_IAM"

  validation {
    condition     = contains(["AWS_IAM", "NONE"], var.function_url_auth_type)
    error_message = "function_url_auth_type must be AWS_IAM or NONE."
  }
}

variable "device_tokens_ssm_parameter_name" {
  description = "DEVICE_TOKENS_SSM_PARAMETER_NAME: name of an SSM SecureString (created here, value set by an operator) holding per-device tokens, JSON {source: token}; every frame must then carry its source's token in the x-facepipe-token header. Empty = no tokens (use with AWS_IAM auth)."
  type        = string
  default     = ""

  validation {
    condition     = var.device_tokens_ssm_parameter_name == "" || can(regex("^/[A-Za-z0-9_.\\-/]{1,1010}$", var.device_tokens_ssm_parameter_name))
    error_message = "device_tokens_ssm_parameter_name must be empty or a hierarchical SSM name starting with '/'."
  }
}

variable "cors_allow_origins" {
  description = "Browser origins allowed to POST to the function URL; empty = no CORS (cameras and the CLI need none)."
  type        = list(string)
  default     = []
}

# --- operations ----------------------------------------------------------------------------

variable "log_retention_days" {
  description = "Retention of the functions' CloudWatch log groups, in days."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

variable "alarm_sns_topic_arn" {
  description = "SNS topic notified by the alarms; empty = alarms without actions."
  type        = string
  default     = ""

  validation {
    condition     = var.alarm_sns_topic_arn == "" || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+(\\.fifo)?$", var.alarm_sns_topic_arn))
    error_message = "alarm_sns_topic_arn must be empty or an SNS topic ARN."
  }
}

variable "request_age_alarm_seconds" {
  description = "Alarm when the oldest request-queue message is older than this (recognition falling behind)."
  type        = number
  default     = 300

  validation {
    condition     = var.request_age_alarm_seconds >= 60
    error_message = "request_age_alarm_seconds must be at least 60."
  }
}

# --- events and alerts (events.tf, docs/events.md) ----------------------------------------

variable "arrival_cooldown_seconds" {
  description = "ARRIVAL_COOLDOWN_SECONDS: a person (or review group) seen at a source after this long away from it is a new arrival (one Person Arrived / Unknown Visitor event)."
  type        = number
  default     = 600

  validation {
    condition     = var.arrival_cooldown_seconds >= 1 && var.arrival_cooldown_seconds <= 604800
    error_message = "arrival_cooldown_seconds must be 1-604800 (a week)."
  }
}

variable "event_archive_days" {
  description = "Days the events bus's archive keeps events for replay; 0 keeps no archive (docs/events.md: privacy)."
  type        = number
  default     = 30

  validation {
    condition     = var.event_archive_days >= 0
    error_message = "event_archive_days must be 0 or more."
  }
}

variable "event_schema_discovery" {
  description = "Let the EventBridge schema registry discover the events' detail schemas."
  type        = bool
  default     = true
}

variable "alert_emails" {
  description = "E-mail addresses alerted (SNS) about unknown visitors and the arrival of watched names; empty: no e-mail alerts."
  type        = list(string)
  default     = []
}

variable "alert_watch_list" {
  description = "Names whose arrival is alerted (Person Arrived); empty: only unknown visitors are."
  type        = list(string)
  default     = []
}

variable "alert_sources" {
  description = "Cameras / albums (source) whose events alert; empty: all of them."
  type        = list(string)
  default     = []
}

variable "alert_webhook_url" {
  description = "HTTPS endpoint (Home Assistant, Slack, ...) that alerts are POSTed to through an EventBridge API destination; empty: none."
  type        = string
  default     = ""

  validation {
    condition     = var.alert_webhook_url == "" || startswith(var.alert_webhook_url, "https://")
    error_message = "alert_webhook_url must be empty or an https:// URL."
  }
}

variable "alert_webhook_header" {
  description = "The header the webhook's secret goes in (the EventBridge connection's API key name)."
  type        = string
  default     = "Authorization"
}

variable "alert_webhook_secret" {
  description = "The value of alert_webhook_header (e.g. 'Bearer <token>'); kept by EventBridge in Secrets Manager."
  type        = string
  default     = ""
  sensitive   = true
}
