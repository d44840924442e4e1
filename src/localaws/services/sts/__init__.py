"""STS: what localaws changes in moto's STS (trust policies and session tags: `authorization`)."""
