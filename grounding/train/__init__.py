"""Training: ``python -m grounding.train recognition|grounding ...`` (also under ``torchrun``).

- ``loop``         the shared epoch loop: seeding, AdamW + cosine schedule, NaN guard,
                   atomic per-epoch checkpoints and ``--resume``, tqdm, tables
- ``distributed``  torchrun / DistributedDataParallel (gloo on CPU, nccl on CUDA), sharded
                   evaluation, all-reduce and gather helpers
- ``paths``        the files of a run folder, the default cache folder
- ``recognition``  action recognition on HMDB51-style clips (ours from pixels, GTN/DGCN from
                   skeletons)
- ``grounding``    temporal grounding on clip features with the moment map head (encoder:
                   MHSSA, or GTN/DGCN in clip-graph mode)

Import from the submodules (``from grounding.train.loop import fit``). This package imports
nothing itself, so ``python -m grounding.train`` can set up the OpenMP runtime (see
``__main__``) before torch is loaded.
"""
