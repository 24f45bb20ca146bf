import pytest

from helpers import shared_data_dir


@pytest.fixture(scope="session")
def m30k(tmp_path_factory):
    """A small Multi30k de-en subset (2,000 train, 200 valid, 100 test pairs), prepared by
    data_prep into fairseq binaries."""
    from data_prep.prepare import prepare

    dest = tmp_path_factory.mktemp("m30k") / "bin"
    prepare(raw_dir=shared_data_dir() / "multi30k", src="de", tgt="en", dest=dest, train="train",
            valid="val", test="test_2016_flickr", vocab_size=1000, limit_train=2000,
            limit_valid=200, limit_test=100)
    return dest


@pytest.fixture(scope="session")
def m30k_noisy(m30k, tmp_path_factory):
    """The m30k subset with 20% of its training pairs misaligned by data_prep.corrupt (their ids in
    corrupted.json)."""
    from data_prep.corrupt import corrupt

    dest = tmp_path_factory.mktemp("m30k_noisy") / "bin"
    corrupt(m30k, dest, fraction=0.2, seed=1)
    return dest
