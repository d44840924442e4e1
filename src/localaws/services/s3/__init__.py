"""S3: what localaws changes in moto's S3 (authorization: `authorization`)."""
