"""Where things live in the repository. Every command resolves paths through here."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXERCISES = ROOT / "exercises"
SOLUTIONS = ROOT / "solutions"
TESTS = ROOT / "tests"
DOCS = ROOT / "docs"
STATE = ROOT / ".kata"  # learner-side state (hint counters, backups); git-ignored


def topic_tests(topic: str) -> Path:
    return TESTS / topic
