"""CloudWatch Logs: what localaws changes in moto's logs (authorization: `authorization`)."""
