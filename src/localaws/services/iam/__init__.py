"""IAM: S3 policy enforcement (`enforcement`), SimulatePrincipalPolicy (`simulate`), and the
statement evaluator they share (`policy`)."""
