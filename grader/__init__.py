"""scratch-katas harness: catalog of topics, loader, guard, stub generator, runner and grading.

`python -m grader --help` lists the commands; the Makefile only wraps them. Keep this file free of
imports: `grader/setup_venv.py` and the command line must start without torch.
"""
