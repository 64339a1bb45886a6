resource "aws_db_subnet_group" "mdz" {
  name_prefix = "${var.name}-"
  subnet_ids  = var.private_subnet_ids
}

resource "aws_db_parameter_group" "mdz" {
  name_prefix = "${var.name}-pg17-"
  family      = "postgres17"
  # mdz's PostgreSQL client has no TLS yet (deploy/README.md, "Limits"): RDS 15+ forces TLS by
  # default, so it is turned off here; the database is reachable from the tasks' security group
  # in private subnets only.
  parameter {
    name  = "rds.force_ssl"
    value = "0"
  }
  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }
  parameter {
    name  = "log_statement"
    value = "ddl"
  }
  # 10 tasks × 16 pooled connections, the migration task, and headroom.
  parameter {
    name         = "max_connections"
    value        = "250"
    apply_method = "pending-reboot"
  }
  lifecycle {
    create_before_destroy = true
  }
}

resource "random_password" "db" {
  length  = 32
  special = false
}

resource "aws_db_instance" "mdz" {
  #checkov:skip=CKV_AWS_161:mdz authenticates to PostgreSQL with a password from its DATABASE_URL; it cannot sign IAM auth tokens.
  #checkov:skip=CKV2_AWS_69:mdz's PostgreSQL client has no TLS yet (deploy/README.md, "Limits"), so rds.force_ssl is 0; the instance is private and reachable from the tasks' security group only.
  #checkov:skip=CKV_AWS_118:Enhanced monitoring needs its own IAM role and costs per instance; Performance Insights (on) covers query load. Turn it on with monitoring_interval if wanted.
  identifier_prefix                     = "${var.name}-"
  engine                                = "postgres"
  engine_version                        = "17"
  instance_class                        = var.db_instance_class
  allocated_storage                     = var.db_allocated_storage
  max_allocated_storage                 = var.db_allocated_storage * 5
  storage_type                          = "gp3"
  storage_encrypted                     = true
  kms_key_id                            = aws_kms_key.mdz.arn
  db_name                               = "mdz"
  username                              = "mdz"
  password                              = random_password.db.result
  port                                  = 5432
  multi_az                              = true
  db_subnet_group_name                  = aws_db_subnet_group.mdz.name
  vpc_security_group_ids                = [aws_security_group.db.id]
  parameter_group_name                  = aws_db_parameter_group.mdz.name
  publicly_accessible                   = false
  backup_retention_period               = 14
  copy_tags_to_snapshot                 = true
  deletion_protection                   = true
  skip_final_snapshot                   = false
  final_snapshot_identifier             = "${var.name}-final"
  auto_minor_version_upgrade            = true
  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.mdz.arn
  performance_insights_retention_period = 7
  enabled_cloudwatch_logs_exports       = ["postgresql", "upgrade"]
  apply_immediately                     = false
}
