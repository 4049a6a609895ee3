#!/usr/bin/python3
"""Golden fixtures for vgg16 (tests/models/test_vgg.c, src/models/vgg.c)
through the shared zoo harness (tests/models/zoo_golden.py):
    /usr/bin/python3 tests/models/gen_vgg.py
writes tests/fixtures/models/vgg16_bn.safetensors and vgg16.safetensors.

The modules are torchvision's vgg16_bn / vgg16 with a 1-channel first conv
(model.channels 1) and the classifier replaced by Linear(25088, 4), which is
the C model's model.head=linear with dropout 0 (its entries are named
"classifier.weight", "classifier.bias"). The input is (2, 1, 32, 32): five
pools leave 1 x 1, which AdaptiveAvgPool2d((7, 7)) repeats into 7 x 7.

vgg16_bn.safetensors also carries "default.train_logits" and
"default.eval_logits": the forward pass (train, then eval with the running
statistics that train pass moved) of the same batch through an unmodified
torchvision vgg16_bn (3-channel stem, its own 4096-4096 classifier, 1000
classes: the C default head with model.channels 3), filled by the same
rule. That model has 138M parameters, so no backward or AdamW is run on it
(the C test builds it only when enough memory is free).
"""
import os

import torch
import torch.nn as nn
import torchvision

import zoo_golden

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "models")
N_CLASSES = 4


def vgg(batchnorm):
    """torchvision's vgg16[_bn] with a 1-channel stem and Linear(25088, L) as
    the classifier."""
    ctor = torchvision.models.vgg16_bn if batchnorm else torchvision.models.vgg16
    net = ctor(weights=None, num_classes=N_CLASSES, dropout=0.0)
    net.features[0] = nn.Conv2d(1, 64, kernel_size=3, padding=1)
    net.classifier = nn.Linear(512 * 7 * 7, N_CLASSES)
    return net


def default_head_logits(x):
    """Unmodified torchvision vgg16_bn (3-channel stem, 1000 classes, dropout
    0) on x repeated to 3 channels, as model.channels 3 feeds it."""
    net = torchvision.models.vgg16_bn(weights=None, dropout=0.0)
    zoo_golden.fill_(net)
    net = net.double()
    x3 = x.double().repeat(1, 3, 1, 1)
    with torch.no_grad():
        net.train()
        train_logits = net(x3)
        net.eval()
        eval_logits = net(x3)
    return {"default.train_logits": train_logits, "default.eval_logits": eval_logits}


def main():
    torch.manual_seed(16)
    x1 = torch.randn(2, 1, 32, 32)
    labels1 = torch.tensor([3, 1])
    extra = default_head_logits(x1)
    zoo_golden.make_fixture(os.path.join(OUT, "vgg16_bn.safetensors"), vgg(True), x1,
                            labels1, extra=extra)
    zoo_golden.make_fixture(os.path.join(OUT, "vgg16.safetensors"), vgg(False), x1,
                            labels1)


if __name__ == "__main__":
    main()
