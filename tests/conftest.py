import pytest

from helpers import shared_data_dir


def pytest_configure(config):
    """Under pytest-xdist (-n 2): xdist's ``loadgroup`` scheduling instead of ``load``, so that
    the tests of a module-scoped fixture (a trained run, a prepared corpus) run on one worker and
    the fixture is built once, not once per worker; every other test goes to whichever worker is
    free, as under ``load``."""
    if getattr(config.option, "dist", "no") == "load":
        config.option.dist = "loadgroup"
    if getattr(config, "workerinput", {}).get("loadgroup"):  # a worker: name the groups
        config.option.loadgroup = True


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """Tell each xdist worker to add the group names (xdist reads ``--dist`` from the command
    line there)."""
    node.workerinput["loadgroup"] = node.config.option.dist == "loadgroup"


@pytest.hookimpl(tryfirst=True)  # before xdist's, which reads the groups
def pytest_collection_modifyitems(items):
    """Each test that uses a module-scoped fixture joins the xdist group of its first such
    fixture (see :func:`pytest_configure`)."""
    for item in items:
        for name in getattr(item, "fixturenames", ()):
            defs = item._fixtureinfo.name2fixturedefs.get(name)
            if defs and defs[-1].scope == "module":
                item.add_marker(pytest.mark.xdist_group(f"{item.module.__name__}.{name}"))
                break


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
