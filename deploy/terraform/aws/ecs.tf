resource "aws_cloudwatch_log_group" "mdz" {
  name              = "/ecs/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.mdz.arn
}

resource "aws_ecs_cluster" "mdz" {
  name = var.name
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

locals {
  # Non-secret configuration; keys as in the README's configuration table.
  environment = concat([
    { name = "MDZ_LISTEN", value = "0.0.0.0:8080" },
    { name = "MDZ_DATA_DIR", value = "/var/lib/mdz/data" },
    { name = "MDZ_JWT_PRIVATE_KEY_FILE", value = "/tmp/jwt-ed25519.pem" },
    { name = "MDZ_LOG_FORMAT", value = "json" },
    { name = "MDZ_PUBLIC_URL", value = var.public_url },
    { name = "MDZ_MAIL_FROM", value = var.mail_from },
    # The ALB is the only hop in front; it sits in the public subnets of this VPC.
    { name = "MDZ_TRUST_PROXY", value = "true" },
    { name = "MDZ_TRUSTED_PROXIES", value = "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16" },
    { name = "MDZ_SHUTDOWN_TIMEOUT_SECS", value = tostring(var.shutdown_timeout_secs) },
    { name = "MDZ_WORKERS", value = "1" },
    { name = "MDZ_PASSWORD_HASH_CONCURRENCY", value = "1" },
    { name = "MDZ_DATABASE_POOL_SIZE", value = tostring(var.database_pool_size) },
    { name = "MDZ_S3_BUCKET", value = aws_s3_bucket.attachments.id },
    { name = "MDZ_S3_REGION", value = data.aws_region.current.name },
    { name = "MDZ_S3_ENDPOINT", value = "https://s3.${data.aws_region.current.name}.amazonaws.com" },
    ], var.llm_provider == "" ? [] : [
    { name = "MDZ_LLM_PROVIDER", value = var.llm_provider },
    { name = "MDZ_LLM_MODEL", value = var.llm_model },
  ])
  secrets = concat([
    { name = "DATABASE_URL", valueFrom = aws_secretsmanager_secret.database_url.arn },
    { name = "REDIS_URL", valueFrom = aws_secretsmanager_secret.redis_url.arn },
    { name = "JWT_PRIVATE_KEY_PEM", valueFrom = aws_secretsmanager_secret.jwt.arn },
    { name = "MDZ_SMTP_URL", valueFrom = aws_secretsmanager_secret.smtp.arn },
    { name = "MDZ_S3_ACCESS_KEY_ID", valueFrom = "${aws_secretsmanager_secret.s3.arn}:access_key_id::" },
    { name = "MDZ_S3_SECRET_ACCESS_KEY", valueFrom = "${aws_secretsmanager_secret.s3.arn}:secret_access_key::" },
    ], var.llm_provider == "" ? [] : [
    { name = "MDZ_LLM_API_KEY", valueFrom = aws_secretsmanager_secret.llm.arn },
  ])
  log_configuration = {
    logDriver = "awslogs"
    options = {
      awslogs-group         = aws_cloudwatch_log_group.mdz.name
      awslogs-region        = data.aws_region.current.name
      awslogs-stream-prefix = "mdz"
    }
  }
  # mdz reads the signing key from a file: write it from the secret into the writable /tmp
  # volume, drop the variable (it is no MDZ_* key), then become mdz.
  start = "umask 077 && printf '%s' \"$JWT_PRIVATE_KEY_PEM\" > /tmp/jwt-ed25519.pem && unset JWT_PRIVATE_KEY_PEM && exec /usr/local/bin/mdz"
}

# 1 vCPU / 2 GiB: the measured footprint (deploy/README.md, "Sizing") with the Kubernetes
# limit's headroom; Fargate pairs 1 vCPU with at least 2 GiB.
resource "aws_ecs_task_definition" "mdz" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 1024
  memory                   = 2048
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }
  volume {
    name = "data"
  }
  volume {
    name = "tmp"
  }
  container_definitions = jsonencode([{
    name                   = "mdz"
    image                  = var.image
    essential              = true
    user                   = "10001:10001"
    readonlyRootFilesystem = true
    privileged             = false
    entryPoint             = ["/bin/sh", "-c"]
    command                = ["${local.start} serve"]
    portMappings           = [{ containerPort = 8080, protocol = "tcp" }]
    environment            = local.environment
    secrets                = local.secrets
    mountPoints = [
      { sourceVolume = "data", containerPath = "/var/lib/mdz/data" },
      { sourceVolume = "tmp", containerPath = "/tmp" },
    ]
    linuxParameters = { capabilities = { drop = ["ALL"] }, initProcessEnabled = true }
    # SIGTERM, then MDZ_SHUTDOWN_TIMEOUT_SECS for in-flight requests, then 5 s to exit.
    stopTimeout = var.shutdown_timeout_secs + 5
    healthCheck = {
      command     = ["CMD-SHELL", "curl -fsS http://127.0.0.1:8080/health/live || exit 1"]
      interval    = 10
      timeout     = 3
      retries     = 3
      startPeriod = 60
    }
    logConfiguration = local.log_configuration
  }])
}

# `mdz migrate`, run once before each rollout (deploy/README.md):
#   aws ecs run-task --cluster mdz --launch-type FARGATE --task-definition mdz-migrate \
#     --network-configuration 'awsvpcConfiguration={subnets=[…],securityGroups=[…]}'
resource "aws_ecs_task_definition" "migrate" {
  family                   = "${var.name}-migrate"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 256
  memory                   = 512
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  volume {
    name = "data"
  }
  container_definitions = jsonencode([{
    name                   = "migrate"
    image                  = var.image
    essential              = true
    user                   = "10001:10001"
    readonlyRootFilesystem = true
    privileged             = false
    command                = ["migrate"]
    environment = [
      { name = "MDZ_LOG_FORMAT", value = "json" },
      { name = "MDZ_DATA_DIR", value = "/var/lib/mdz/data" },
    ]
    secrets          = [{ name = "DATABASE_URL", valueFrom = aws_secretsmanager_secret.database_url.arn }]
    mountPoints      = [{ sourceVolume = "data", containerPath = "/var/lib/mdz/data" }]
    linuxParameters  = { capabilities = { drop = ["ALL"] } }
    logConfiguration = local.log_configuration
  }])
}

resource "aws_ecs_service" "mdz" {
  name                               = var.name
  cluster                            = aws_ecs_cluster.mdz.id
  task_definition                    = aws_ecs_task_definition.mdz.arn
  desired_count                      = var.replicas
  launch_type                        = "FARGATE"
  platform_version                   = "LATEST"
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  health_check_grace_period_seconds  = 60
  enable_execute_command             = false
  propagate_tags                     = "SERVICE"
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }
  load_balancer {
    target_group_arn = aws_lb_target_group.mdz.arn
    container_name   = "mdz"
    container_port   = 8080
  }
  lifecycle {
    ignore_changes = [desired_count]
  }
  depends_on = [aws_lb_listener.https]
}

resource "aws_appautoscaling_target" "mdz" {
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.mdz.name}/${aws_ecs_service.mdz.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.replicas
  max_capacity       = var.max_replicas
}

resource "aws_appautoscaling_policy" "cpu" {
  name               = "${var.name}-cpu"
  service_namespace  = aws_appautoscaling_target.mdz.service_namespace
  resource_id        = aws_appautoscaling_target.mdz.resource_id
  scalable_dimension = aws_appautoscaling_target.mdz.scalable_dimension
  policy_type        = "TargetTrackingScaling"
  target_tracking_scaling_policy_configuration {
    target_value = 70
    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
    # Scaling in closes WebSockets (clients reconnect): slowly.
    scale_in_cooldown  = 600
    scale_out_cooldown = 60
  }
}
