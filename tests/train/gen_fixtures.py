"""gen_fixtures.py: learning rates from torch.optim.lr_scheduler for
test_schedule.c, losses and their gradients for test_loss.c.

Run with Debian's torch: /usr/bin/python3 tests/train/gen_fixtures.py
Writes tests/fixtures/train/lr_schedule.txt, one case per line:
  base_lr min_lr warmup_epochs warmup_start_factor epochs lr_0 lr_1 ... lr_{epochs-1}
where lr_e is the learning rate used during epoch e (read before that epoch's
scheduler.step()), with the schedule stepped once per epoch:
  SequentialLR([LinearLR(start_factor, 1, total_iters=W),
                CosineAnnealingLR(T_max=epochs-W, eta_min=min_lr)], milestones=[W])
or the cosine alone when W = 0.

tests/fixtures/train/lr_schedule_more.txt, one case per line:
  kind base_lr min_lr warmup_epochs warmup_start_factor epochs a b lr_0 ... lr_{epochs-1}
with kind "restarts" (CosineAnnealingWarmRestarts(T_0=a, T_mult=b, eta_min=min_lr))
or "step" (StepLR(step_size=a, gamma=b)) after the same LinearLR warm-up.

tests/fixtures/train/loss.txt, one case per line:
  kind B L smoothing gamma has_weights [w_0 .. w_{L-1}] z (B*L) labels (B) loss dz (B*L)
kind "ce": torch.nn.CrossEntropyLoss(weight=w, label_smoothing=s) itself;
kind "focal": the formula of train.h's train_loss_forward,
  sum_i sum_k q_ik w_k (1 - p_ik)^gamma (-log p_ik) / sum_i w_{y_i},
  q_ik = (1 - s)[k = y_i] + s / L,
in float64 with autograd (checked to equal CrossEntropyLoss at gamma 0).
The logits are float32 values; the losses and gradients are computed in float64.

tests/fixtures/train/class_weights.txt, one case per line:
  L n labels (n) weights (L)
from sklearn.utils.class_weight.compute_class_weight("balanced").
"""
import os
import warnings

import numpy as np
import torch
from sklearn.utils.class_weight import compute_class_weight

warnings.filterwarnings("ignore")
CASES = [
    (1e-3, 1e-5, 0, 0.1, 10),
    (1e-3, 1e-5, 2, 0.1, 10),
    (3e-4, 0.0, 3, 0.25, 20),
    (1e-2, 1e-4, 1, 1.0 / 3.0, 5),
    (5e-4, 5e-6, 0, 0.1, 1),
    (2e-3, 2e-5, 5, 0.01, 37),
]


def rates(base, min_lr, warm, start, epochs, kind="cosine", a=None, b=None):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=base)
    if kind == "restarts":
        cos = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=a, T_mult=b, eta_min=min_lr)
    elif kind == "step":
        cos = torch.optim.lr_scheduler.StepLR(opt, step_size=a, gamma=b)
    else:
        cos = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(epochs - warm, 1), eta_min=min_lr)
    if warm > 0:
        lin = torch.optim.lr_scheduler.LinearLR(opt, start_factor=start, end_factor=1.0, total_iters=warm)
        sched = torch.optim.lr_scheduler.SequentialLR(opt, [lin, cos], milestones=[warm])
    else:
        sched = cos
    out = []
    for _ in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


MORE_CASES = [
    ("restarts", 1e-3, 1e-5, 0, 0.1, 25, 5, 1),
    ("restarts", 1e-3, 1e-5, 0, 0.1, 40, 3, 2),
    ("restarts", 2e-3, 0.0, 3, 0.1, 30, 4, 3),
    ("restarts", 5e-4, 5e-6, 2, 0.5, 12, 1, 1),
    ("step", 1e-3, 1e-5, 0, 0.1, 25, 5, 0.5),
    ("step", 1e-2, 0.0, 2, 0.1, 20, 3, 0.1),
    ("step", 3e-4, 0.0, 4, 0.25, 15, 1, 0.9),
]

LOSS_CASES = [  # kind, B, L, smoothing, gamma, weighted, logit scale
    ("ce", 4, 3, 0.0, 0.0, True, 1.0),
    ("ce", 6, 5, 0.1, 0.0, True, 2.0),
    ("ce", 5, 4, 0.2, 0.0, False, 1.5),
    ("ce", 8, 8, 0.1, 0.0, True, 3.0),
    ("focal", 6, 4, 0.0, 2.0, False, 2.0),
    ("focal", 6, 4, 0.1, 2.0, True, 2.0),
    ("focal", 5, 3, 0.05, 0.5, True, 8.0),
    ("focal", 7, 6, 0.1, 0.0, True, 2.0),
    ("focal", 4, 8, 0.0, 3.5, True, 4.0),
]


def focal_reference(z, y, w, s, gamma):
    L = z.shape[1]
    logp = torch.log_softmax(z, dim=1)
    p = logp.exp()
    q = torch.full_like(z, s / L)
    q[torch.arange(z.shape[0]), y] += 1.0 - s
    return (q * w[None, :] * (1.0 - p) ** gamma * -logp).sum() / w[y].sum()


def loss_case(gen, kind, B, L, s, gamma, weighted, scale):
    z32 = (torch.randn(B, L, generator=gen) * scale).float()
    y = torch.randint(0, L, (B,), generator=gen)
    w = (torch.rand(L, generator=gen, dtype=torch.float64) * 2 + 0.25).float().double() if weighted \
        else torch.ones(L, dtype=torch.float64)
    z = z32.double().requires_grad_(True)
    if kind == "ce":
        fn = torch.nn.CrossEntropyLoss(weight=w if weighted else None, label_smoothing=s)
        loss = fn(z, y)
        assert abs(loss.item() - focal_reference(z, y, w, s, 0.0).item()) < 1e-12
    else:
        loss = focal_reference(z, y, w, s, gamma)
        if gamma == 0.0:
            ce = torch.nn.CrossEntropyLoss(weight=w, label_smoothing=s)(z, y)
            assert abs(loss.item() - ce.item()) < 1e-12
    loss.backward()
    fields = [kind, B, L, repr(s), repr(gamma), int(weighted)]
    if weighted:
        fields += [repr(x) for x in w.tolist()]
    fields += [repr(x) for x in z32.flatten().tolist()]
    fields += [str(int(x)) for x in y.tolist()]
    fields += [repr(loss.item())] + [repr(x) for x in z.grad.flatten().tolist()]
    return " ".join(str(f) for f in fields)


CLASS_WEIGHT_CASES = [[0, 0, 1, 2, 2, 2, 3], [1, 0, 1, 1, 1, 1, 1, 1], [0, 1, 2, 3, 4], [2, 2, 2, 0, 1, 1]]


here = os.path.dirname(os.path.abspath(__file__))
fixtures = os.path.join(here, "..", "fixtures", "train")
path = os.path.join(fixtures, "lr_schedule.txt")
with open(path, "w") as f:
    f.write("# base_lr min_lr warmup_epochs warmup_start_factor epochs lr[epochs] (torch %s)\n" % torch.__version__)
    for c in CASES:
        f.write(" ".join(repr(float(x)) if isinstance(x, float) else str(x) for x in c))
        f.write(" " + " ".join(repr(x) for x in rates(*c)) + "\n")
print("wrote", path)

path = os.path.join(fixtures, "lr_schedule_more.txt")
with open(path, "w") as f:
    f.write("# kind base_lr min_lr warmup_epochs warmup_start_factor epochs a b lr[epochs] (torch %s)\n"
            % torch.__version__)
    for kind, base, min_lr, warm, start, epochs, a, b in MORE_CASES:
        f.write(" ".join([kind] + [repr(x) if isinstance(x, float) else str(x)
                                   for x in (base, min_lr, warm, start, epochs, a, b)]))
        f.write(" " + " ".join(repr(x) for x in rates(base, min_lr, warm, start, epochs, kind, a, b)) + "\n")
print("wrote", path)

path = os.path.join(fixtures, "loss.txt")
gen = torch.Generator().manual_seed(1234)
with open(path, "w") as f:
    f.write("# kind B L smoothing gamma has_weights [w (L)] z (B*L) labels (B) loss dz (B*L) (torch %s)\n"
            % torch.__version__)
    for c in LOSS_CASES:
        f.write(loss_case(gen, *c) + "\n")
print("wrote", path)

path = os.path.join(fixtures, "class_weights.txt")
with open(path, "w") as f:
    f.write("# L n labels (n) weights (L), sklearn compute_class_weight('balanced')\n")
    for y in CLASS_WEIGHT_CASES:
        classes = np.arange(max(y) + 1)
        w = compute_class_weight("balanced", classes=classes, y=np.array(y))
        f.write(" ".join([str(len(classes)), str(len(y))] + [str(v) for v in y] + [repr(float(v)) for v in w]) + "\n")
print("wrote", path)
