# Secrets Manager holds every secret the task reads; ECS injects them as environment
# variables at start (values also live in the Terraform state: keep it encrypted).

resource "tls_private_key" "jwt" {
  algorithm = "ED25519"
}

# The Ed25519 signing key every task shares (MDZ_JWT_PRIVATE_KEY_FILE is written from it at
# start, see ecs.tf). Rotating it signs everyone out within JWT_ACCESS_TTL_SECS.
resource "aws_secretsmanager_secret" "jwt" {
  #checkov:skip=CKV2_AWS_57:A rotation Lambda cannot rotate a signing key that every task must reload together; rotate by replacing tls_private_key.jwt and redeploying.
  name_prefix = "${var.name}/jwt-"
  kms_key_id  = aws_kms_key.mdz.arn
}

resource "aws_secretsmanager_secret_version" "jwt" {
  secret_id     = aws_secretsmanager_secret.jwt.id
  secret_string = tls_private_key.jwt.private_key_pem
}

resource "aws_secretsmanager_secret" "database_url" {
  #checkov:skip=CKV2_AWS_57:The password is part of a URL mdz reads at start; rotating it needs a redeploy, done by changing random_password.db.
  name_prefix = "${var.name}/database-url-"
  kms_key_id  = aws_kms_key.mdz.arn
}

resource "aws_secretsmanager_secret_version" "database_url" {
  secret_id     = aws_secretsmanager_secret.database_url.id
  secret_string = "postgres://mdz:${random_password.db.result}@${aws_db_instance.mdz.address}:5432/mdz"
}

resource "aws_secretsmanager_secret" "redis_url" {
  #checkov:skip=CKV2_AWS_57:Holds an address, no credential (see elasticache.tf).
  name_prefix = "${var.name}/redis-url-"
  kms_key_id  = aws_kms_key.mdz.arn
}

resource "aws_secretsmanager_secret_version" "redis_url" {
  secret_id     = aws_secretsmanager_secret.redis_url.id
  secret_string = "redis://${aws_elasticache_replication_group.mdz.primary_endpoint_address}:6379"
}

# mdz's S3 client takes static keys (MDZ_S3_ACCESS_KEY_ID/SECRET), not the task role, so a
# user limited to the attachment bucket holds them.
resource "aws_iam_user" "s3" {
  #checkov:skip=CKV_AWS_273:mdz reads static S3 keys only (it does not use the ECS task role yet); this user can do nothing but use one bucket.
  name = "${var.name}-attachments"
}

resource "aws_iam_user_policy" "s3" {
  #checkov:skip=CKV_AWS_40:A policy on a service user that exists only to hold these keys; there is no group to attach it to.
  name   = "attachments"
  user   = aws_iam_user.s3.name
  policy = data.aws_iam_policy_document.s3_access.json
}

resource "aws_iam_access_key" "s3" {
  user = aws_iam_user.s3.name
}

resource "aws_secretsmanager_secret" "s3" {
  #checkov:skip=CKV2_AWS_57:Rotate by replacing aws_iam_access_key.s3 and redeploying; a rotation Lambda would have to restart every task.
  name_prefix = "${var.name}/s3-"
  kms_key_id  = aws_kms_key.mdz.arn
}

resource "aws_secretsmanager_secret_version" "s3" {
  secret_id = aws_secretsmanager_secret.s3.id
  secret_string = jsonencode({
    access_key_id     = aws_iam_access_key.s3.id
    secret_access_key = aws_iam_access_key.s3.secret
  })
}

# The model provider's key, set by the operator after apply:
#   aws secretsmanager put-secret-value --secret-id <llm_secret_arn> --secret-string 'sk-…'
resource "aws_secretsmanager_secret" "llm" {
  #checkov:skip=CKV2_AWS_57:A third-party API key is rotated at the provider, then stored here.
  name_prefix = "${var.name}/llm-api-key-"
  kms_key_id  = aws_kms_key.mdz.arn
}

resource "aws_secretsmanager_secret_version" "llm" {
  secret_id     = aws_secretsmanager_secret.llm.id
  secret_string = "unset"
  lifecycle {
    ignore_changes = [secret_string]
  }
}

# Where mail goes out (MDZ_SMTP_URL, with its credentials), set by the operator after apply:
#   aws secretsmanager put-secret-value --secret-id <smtp_secret_arn> --secret-string '<url>'
# where <url> is smtp:// + the SES SMTP user, ':', its password, '@email-smtp.<region>.amazonaws.com:587'.
# Until then the tasks refuse to start (the placeholder is not a URL mdz accepts): without
# SMTP, mdz would write every mail, reset links included, to CloudWatch.
resource "aws_secretsmanager_secret" "smtp" {
  #checkov:skip=CKV2_AWS_57:SMTP credentials are rotated at the mail provider, then stored here.
  name_prefix = "${var.name}/smtp-url-"
  kms_key_id  = aws_kms_key.mdz.arn
}

resource "aws_secretsmanager_secret_version" "smtp" {
  secret_id     = aws_secretsmanager_secret.smtp.id
  secret_string = "unset"
  lifecycle {
    ignore_changes = [secret_string]
  }
}
