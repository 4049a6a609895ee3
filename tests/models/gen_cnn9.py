#!/usr/bin/python3
"""Golden fixture for cnn9 (tests/models/test_cnn9.c) through the shared zoo
harness (tests/models/zoo_golden.py):
    /usr/bin/python3 tests/models/gen_cnn9.py
writes tests/fixtures/models/cnn9.safetensors. The module is
tests/models/gen_fixtures.py's CNN with three convs per block."""
import importlib.util
import os

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("models_gen_fixtures",
                                               os.path.join(HERE, "gen_fixtures.py"))
_gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_gen)
import zoo_golden  # noqa: E402

torch.manual_seed(9)
net = _gen.CNN([(3, 32), (3, 64), (3, 128)], 1, 5, 0.0)
x1 = torch.randn(3, 1, 16, 24)
labels1 = torch.tensor([0, 4, 2])
zoo_golden.make_fixture(os.path.join(HERE, "..", "fixtures", "models", "cnn9.safetensors"),
                        net, x1, labels1)
