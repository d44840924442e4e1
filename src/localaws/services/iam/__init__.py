"""IAM: the one policy evaluator (`policy`, `conditions`), who a request is from (`principals`),
request -> checks tables (`authorization`; IAM's own API: `api_authorization`), enforcement of
every request (`enforcement`) and SimulatePrincipalPolicy on the same evaluator (`simulate`)."""
