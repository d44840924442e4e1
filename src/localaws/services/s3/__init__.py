"""S3: object bodies as blob files (storage) and their checksums; DeleteObjects per key."""
