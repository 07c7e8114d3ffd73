"""Knowledge distillation: a student (pruned or smaller) trained against the original model.

config.py (DistillConfig), loss.py (KD + hint losses), train.py (the resumable loop),
distributed.py (torchrun / DDP), plot.py (the loss/accuracy figure). Nothing here imports
torch at module import time except loss.py and train.py, which are imported only when used.
"""
