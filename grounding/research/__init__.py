"""Research diagnostics of the synthetic dataset, apart from the product.

Each module is a command that compares what a model sees or predicts with the generator's
scripts (rebuilt by :mod:`grounding.data.synthetic.manifest`); nothing in the package imports
them (they sit in the top layer, ``tests/test_layers.py``):

    python -m grounding.research.oracle      script-derived oracle clip features (a ceiling)
    python -m grounding.research.decode      person features checked against the scripts
    python -m grounding.research.breakdown   grounding recall per kind of query relation
    python -m grounding.research.crop_gap    recognizer accuracy from close-ups to wide crops
    python -m grounding.research.wide_clips  wide-shot crops of the training clips

Findings made with them: ``docs/experiments/synthetic.md``.
"""
