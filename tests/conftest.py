import os

import pytest
import torch
from hypothesis import HealthCheck, settings

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=100,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=25,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", deadline=None, max_examples=300,
                          suppress_health_check=[HealthCheck.too_slow])
PROFILES = ("ci", "dev", "thorough")


def pytest_configure(config):
    """Load HYPOTHESIS_PROFILE (default dev); an unknown name stops the run with one line listing the profiles."""
    name = os.environ.get("HYPOTHESIS_PROFILE", "dev")
    if name not in PROFILES:
        raise pytest.UsageError(f"HYPOTHESIS_PROFILE={name!r} is not a profile of tests/conftest.py; "
                                f"use one of {', '.join(PROFILES)} (default dev)")
    settings.load_profile(name)
    if os.environ.get("PYTEST_XDIST_WORKER"):    # `make test` runs two workers on two cores: one thread each
        torch.set_num_threads(1)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=["cpu", "cuda"], scope="session")
def device(request):
    if request.param == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    return torch.device(request.param)


@pytest.fixture
def one_thread():
    """One intra-op thread for small tensors (a second one only waits at OpenMP barriers on a busy machine);
    the previous setting is restored.  Modules of small-tensor tests use it for every test (pytestmark)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
