"""S3: object bodies as blob files (storage) and their checksums; DeleteObjects per key;
ListObjectVersions by page over sorted names (versions, key_index); tags of tagged objects only."""
