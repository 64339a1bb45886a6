data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

# One customer-managed key for the bucket, the database, the secrets and the logs.
resource "aws_kms_key" "mdz" {
  description             = "${var.name}: S3, RDS, Secrets Manager, CloudWatch Logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "mdz" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.mdz.key_id
}

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:A key policy's resource is always the key itself ("*" means this key); the account root must be able to manage it.
  #checkov:skip=CKV_AWS_111:Same: "*" in a key policy is this key only.
  #checkov:skip=CKV_AWS_356:Same: "*" in a key policy is this key only.
  statement {
    sid       = "AccountAdmin"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
  statement {
    sid       = "CloudWatchLogs"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${data.aws_region.current.name}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:aws:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:/ecs/${var.name}*"]
    }
  }
}
