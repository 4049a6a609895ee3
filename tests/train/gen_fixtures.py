"""gen_fixtures.py: learning rates from torch.optim.lr_scheduler for test_schedule.c.

Run with Debian's torch: /usr/bin/python3 tests/train/gen_fixtures.py
Writes tests/fixtures/train/lr_schedule.txt, one case per line:
  base_lr min_lr warmup_epochs warmup_start_factor epochs lr_0 lr_1 ... lr_{epochs-1}
where lr_e is the learning rate used during epoch e (read before that epoch's
scheduler.step()), with the schedule stepped once per epoch:
  SequentialLR([LinearLR(start_factor, 1, total_iters=W),
                CosineAnnealingLR(T_max=epochs-W, eta_min=min_lr)], milestones=[W])
or the cosine alone when W = 0.
"""
import os
import warnings

import torch

warnings.filterwarnings("ignore")
CASES = [
    (1e-3, 1e-5, 0, 0.1, 10),
    (1e-3, 1e-5, 2, 0.1, 10),
    (3e-4, 0.0, 3, 0.25, 20),
    (1e-2, 1e-4, 1, 1.0 / 3.0, 5),
    (5e-4, 5e-6, 0, 0.1, 1),
    (2e-3, 2e-5, 5, 0.01, 37),
]


def rates(base, min_lr, warm, start, epochs):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=base)
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


here = os.path.dirname(os.path.abspath(__file__))
path = os.path.join(here, "..", "fixtures", "train", "lr_schedule.txt")
with open(path, "w") as f:
    f.write("# base_lr min_lr warmup_epochs warmup_start_factor epochs lr[epochs] (torch %s)\n" % torch.__version__)
    for c in CASES:
        f.write(" ".join(repr(float(x)) if isinstance(x, float) else str(x) for x in c))
        f.write(" " + " ".join(repr(x) for x in rates(*c)) + "\n")
print("wrote", path)
