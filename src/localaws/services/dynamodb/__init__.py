"""DynamoDB: what localaws changes in moto's DynamoDB (authorization: `authorization`)."""
