"""Lightning callbacks of the project: checkpointing, progress display, TensorBoard figures,
and the test curves that curves.json records (always on, added by src/train.py and
src/eval.py)."""
