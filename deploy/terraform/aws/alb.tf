resource "aws_lb" "mdz" {
  #checkov:skip=CKV_AWS_91:Access logs need a log bucket with an ELB-writable policy per region; mdz logs every request (JSON, with request id) to CloudWatch already.
  #checkov:skip=CKV2_AWS_28:A WAF web ACL is the operator's choice (rules, cost); mdz rate-limits logins and registrations itself.
  name_prefix                = "mdz-"
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = var.public_subnet_ids
  security_groups            = [aws_security_group.alb.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = true
  # Collab WebSockets and chat SSE streams idle between messages; mdz pings collab sockets.
  idle_timeout = 3600
}

resource "aws_lb_target_group" "mdz" {
  name_prefix = "mdz-"
  port        = 8080
  protocol    = "HTTP"
  target_type = "ip"
  vpc_id      = var.vpc_id
  # Draining lasts as long as mdz's own shutdown grace.
  deregistration_delay = var.shutdown_timeout_secs
  health_check {
    path                = "/health/ready"
    matcher             = "200"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.mdz.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.mdz.arn
  }
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.mdz.arn
  port              = 80
  protocol          = "HTTP"
  default_action {
    type = "redirect"
    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }
}
