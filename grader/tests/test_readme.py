"""The topic table at the top of README.md says what grader/catalog.py says.

The table has one row per topic: `| # | topic | you write |`, where `#` is the topic's `order` in
the catalog, `topic` its name in backquotes, and `you write` a short phrase for the reader (the
catalog has no field for it, so only its presence is checked). Adding, renaming, removing or
reordering a topic in the catalog without the same change to the README fails here, with a sentence
saying which row to change.
"""

import re

from grader import catalog, paths

README = paths.ROOT / "README.md"
HEADER = ["#", "topic", "you write"]


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def topic_table(text: str) -> list[list[str]]:
    """The rows (lists of cells) of the README's table whose header is `| # | topic | you write |`."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.lstrip().startswith("|") and _cells(line) == HEADER:
            rows = []
            for row in lines[i + 2 :]:  # skip the |---| line
                if not row.lstrip().startswith("|"):
                    break
                rows.append(_cells(row))
            return rows
    return []


def table_problems(rows: list[list[str]], topics: list[catalog.Topic]) -> list[str]:
    """Sentences describing every way `rows` differ from `topics` (in catalog order); empty when equal."""
    if not rows:
        return ["README.md has no topic table (a table with the header `| # | topic | you write |`)."]
    problems = []
    parsed = []
    for n, row in enumerate(rows, 1):
        name = re.fullmatch(r"`([^`]+)`", row[1]) if len(row) > 1 else None
        if len(row) != len(HEADER) or not name or not row[0].isdigit() or not row[2]:
            problems.append(
                f"Row {n} of README.md's topic table, {' | '.join(row)!r}, is not of the form "
                "`| ORDER | `NAME` | what the learner writes |`."
            )
            continue
        parsed.append((int(row[0]), name.group(1)))
    if problems:
        return problems
    listed = [name for _, name in parsed]
    wanted = [t.name for t in topics]
    missing = [n for n in wanted if n not in listed]
    extra = [n for n in listed if n not in wanted]
    if missing:
        problems.append(f"README.md's topic table has no row for {', '.join(missing)} (in grader/catalog.py): add one.")
    if extra:
        problems.append(
            f"README.md's topic table lists {', '.join(extra)}, which grader/catalog.py does "
            "not have: remove or rename the row."
        )
    duplicated = sorted({n for n in listed if listed.count(n) > 1})
    if duplicated:
        problems.append(f"README.md's topic table lists {', '.join(duplicated)} more than once.")
    if not (missing or extra or duplicated) and listed != wanted:
        problems.append(
            f"README.md's topic table lists the topics in the order {', '.join(listed)}; "
            f"grader/catalog.py orders them {', '.join(wanted)}."
        )
    orders = {t.name: t.order for t in topics}
    for number, name in parsed:
        if name in orders and number != orders[name]:
            problems.append(
                f"README.md's topic table numbers {name} {number}; its order in grader/catalog.py is {orders[name]}."
            )
    return problems


def test_readme_topic_table_matches_the_catalog():
    """Every catalog topic has a row, in catalog order, numbered with its `order`; no other rows."""
    problems = table_problems(topic_table(README.read_text(encoding="utf-8")), catalog.ordered())
    assert not problems, "\n".join(problems)


def test_table_problems_are_sentences():
    """A stale table (a topic missing, one renamed, rows swapped, a wrong number) is described, not just
    refused, so whoever changed the catalog knows which row of README.md to change."""
    topics = catalog.ordered()
    good = [[str(t.order), f"`{t.name}`", "something"] for t in topics]
    assert table_problems(good, topics) == []
    assert table_problems([], topics)[0].startswith("README.md has no topic table")

    first, second = topics[0].name, topics[1].name
    assert table_problems(good[1:], topics) == [
        f"README.md's topic table has no row for {first} (in grader/catalog.py): add one."
    ]

    renamed = [list(row) for row in good]
    renamed[0][1] = "`nosuchtopic`"
    assert table_problems(renamed, topics) == [
        f"README.md's topic table has no row for {first} (in grader/catalog.py): add one.",
        "README.md's topic table lists nosuchtopic, which grader/catalog.py does not have: remove or rename the row.",
    ]

    swapped = [good[1], good[0], *good[2:]]
    problems = table_problems(swapped, topics)
    assert len(problems) == 1  # each row keeps its own number: only the order is wrong
    assert problems[0].startswith(f"README.md's topic table lists the topics in the order {second}, {first}, ")

    renumbered = [list(row) for row in good]
    renumbered[0][0] = "99"
    assert table_problems(renumbered, topics) == [
        f"README.md's topic table numbers {first} 99; its order in grader/catalog.py is {topics[0].order}."
    ]

    assert "is not of the form" in table_problems([["1", "adam", "x"]], topics)[0]


def test_topic_table_is_found_in_markdown():
    """topic_table reads the rows under the header and stops at the first line that is not a row."""
    text = "intro\n\n| # | topic | you write |\n|---|---|---|\n| 1 | `adam` | the update |\n\nafter\n| x |\n"
    assert topic_table(text) == [["1", "`adam`", "the update"]]
    assert topic_table("no table here\n") == []
