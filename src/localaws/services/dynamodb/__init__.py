"""localaws's changes to moto's DynamoDB (see `items`)."""
