"""localaws's durable state: moto's backends survive a restart, every write before its answer.

- `store`: the snapshot store (what is saved where under `<state_dir>/data`, restore).
- `pickling`: how moto state is pickled (backends by reference, locks fresh).
- `shards`: the services other than S3 and DynamoDB, one file per resource.
- `tracking`: moto's resource collections that report which resources a request reached.
- `catalog`: which moto services are persisted and which signing names change them.
- `requests`: what a request may change (before moto runs) and did change (after).
- `middleware`: the WSGI middleware that saves after each mutating request.
- `journal`: the write-ahead journal (one group-committed fdatasync per request).
- `blobs`: S3 object bodies as immutable files.

The moto changes persistence relies on live with their services: `services.s3.storage`
(blob-backed objects, key-name capture) and `services.dynamodb.items` (touched hash keys).
"""
