"""`BlobStore.adopt`: a large file becomes a blob by a hard link, and only a file nobody
else can change through another name."""

from __future__ import annotations

import hashlib
import os
from importlib import resources

from localaws.persistence.blobs import JOURNALED_MAX, BlobStore

# scikit-learn's bundled breast-cancer CSV (data this project did not make), repeated past
# the size up to which bodies ride on the journal
DATA = (resources.files("sklearn.datasets") / "data" / "breast_cancer.csv").read_bytes()
BIG = DATA * (JOURNALED_MAX // len(DATA) + 1)


def test_a_large_file_is_linked_not_copied(tmp_path):
    store = BlobStore(tmp_path / "blobs")
    job_file = tmp_path / "job" / "out.csv"
    job_file.parent.mkdir()
    job_file.write_bytes(BIG)
    digest = hashlib.md5()
    ref = store.adopt(job_file, digest)
    assert ref is not None and ref.size == len(BIG)
    assert digest.hexdigest() == hashlib.md5(BIG).hexdigest()
    assert os.path.samefile(store.path(ref.name), job_file)
    job_file.unlink()  # the job's folder is removed: the blob stays
    assert store.read(ref.name) == BIG
    assert os.stat(store.path(ref.name)).st_nlink == 1


def test_what_it_does_not_adopt(tmp_path):
    store = BlobStore(tmp_path / "blobs")
    small = tmp_path / "small.csv"
    small.write_bytes(DATA)
    shared = tmp_path / "shared.csv"
    shared.write_bytes(BIG)
    os.link(shared, tmp_path / "other-name.csv")  # could be changed through the other name
    link = tmp_path / "link.csv"
    link.symlink_to(tmp_path / "other-name.csv")
    for path in (small, shared, link, tmp_path / "missing.csv", tmp_path):
        assert store.adopt(path) is None, path
    assert list((tmp_path / "blobs").glob("*/*")) == []
