"""The stub generator (grader/stubs.py): docs/design.md rule 1, the stub is made from the reference."""

import pytest

from grader import catalog, paths
from grader.stubs import BEGIN, END, MarkerError, make_stub, strip_markers

REFERENCE = (
    '"""A module."""\n'
    "\n"
    "import math\n"
    "\n"
    "\n"
    "def area(r):\n"
    '    """The area of a circle of radius r."""\n'
    f"    {BEGIN}\n"
    "    squared = r * r\n"
    "    return math.pi * squared\n"
    f"    {END}\n"
    "\n"
    "\n"
    "class Box:\n"
    "    def volume(self):\n"
    f"        {BEGIN}\n"
    "        return 1\n"
    f"        {END}\n"
    "\n"
    "# trailing comment, no newline at the end"
)


def test_block_becomes_not_implemented_at_marker_indentation():
    """Each marked block turns into `# YOUR CODE HERE` + `raise NotImplementedError`, indented like BEGIN."""
    stub = make_stub(REFERENCE)
    assert "    # YOUR CODE HERE\n    raise NotImplementedError\n" in stub
    assert "        # YOUR CODE HERE\n        raise NotImplementedError\n" in stub
    assert stub.count("raise NotImplementedError") == 2
    assert "squared" not in stub and "return 1" not in stub
    assert BEGIN not in stub and END not in stub


def test_everything_outside_the_blocks_is_kept_byte_for_byte():
    """The stub is exactly the reference with each block (markers included) replaced."""
    expected = (
        '"""A module."""\n\nimport math\n\n\ndef area(r):\n'
        '    """The area of a circle of radius r."""\n'
        "    # YOUR CODE HERE\n    raise NotImplementedError\n"
        "\n\nclass Box:\n    def volume(self):\n"
        "        # YOUR CODE HERE\n        raise NotImplementedError\n"
        "\n# trailing comment, no newline at the end"
    )
    assert make_stub(REFERENCE) == expected


def test_tab_indentation_is_copied():
    """The replacement copies the BEGIN marker's indentation characters (a tab stays a tab)."""
    source = f"def f():\n\t{BEGIN}\n\treturn 2\n\t{END}\n"
    assert make_stub(source) == "def f():\n\t# YOUR CODE HERE\n\traise NotImplementedError\n"


def test_source_without_markers_is_unchanged():
    """A file with no markers comes back identical (no newline or whitespace normalisation)."""
    source = "x = 1  \n\n\ty = 2\r\nz = 3"
    assert make_stub(source) == source


def test_stub_compiles_and_raises():
    """The generated stub is valid Python whose marked function raises NotImplementedError."""
    namespace = {}
    exec(compile(make_stub(REFERENCE), "<stub>", "exec"), namespace)
    with pytest.raises(NotImplementedError):
        namespace["area"](2.0)
    with pytest.raises(NotImplementedError):
        namespace["Box"]().volume()


@pytest.mark.parametrize(
    "source, line, words",
    [
        (f"def f():\n    {BEGIN}\n    {BEGIN}\n    pass\n    {END}\n", 3, "inside the block opened at line 2"),
        (f"x = 1\n{END}\n", 2, "without"),
        (f"x = 1\ndef f():\n    {BEGIN}\n    return 1\n", 3, "never closed"),
        (f"x = 1\nx = 2  {BEGIN}\n", 2, "alone on its line"),
        (f"def f():\n    {BEGIN}\n    return 1\n    {END} here\n", 4, "alone on its line"),
    ],
    ids=["nested-begin", "end-without-begin", "unclosed-begin", "code-before-marker", "text-after-marker"],
)
def test_misplaced_markers_raise_marker_error_with_line(source, line, words):
    """Unbalanced or misplaced markers raise MarkerError naming the file and the offending line."""
    with pytest.raises(MarkerError) as info:
        make_stub(source, "ref.py")
    message = str(info.value)
    assert message.startswith(f"ref.py:{line}:"), message
    assert words in message


def test_marker_error_is_a_value_error():
    """Callers that catch ValueError also catch MarkerError."""
    assert issubclass(MarkerError, ValueError)


def test_strip_markers_removes_only_marker_lines():
    """strip_markers drops the marker lines and keeps every other line, solution code included."""
    stripped = strip_markers(REFERENCE)
    kept = [line for line in REFERENCE.splitlines(keepends=True) if line.strip() not in (BEGIN, END)]
    assert stripped == "".join(kept)
    assert BEGIN not in stripped and END not in stripped
    assert "    squared = r * r\n    return math.pi * squared\n" in stripped
    assert len(stripped.splitlines()) == len(REFERENCE.splitlines()) - 4


def test_crlf_file_keeps_crlf_in_generated_lines():
    """A reference checked out with CRLF endings gives a stub with CRLF endings throughout (not mixed)."""
    source = f"def f():\r\n    {BEGIN}\r\n    return 1\r\n    {END}\r\nx = 1\r\n"
    assert make_stub(source) == "def f():\r\n    # YOUR CODE HERE\r\n    raise NotImplementedError\r\nx = 1\r\n"


@pytest.mark.parametrize("topic", catalog.names())
def test_committed_stub_is_generated_from_reference(topic):
    """exercises/<topic>.py as committed is exactly make_stub(solutions/<topic>.py) (what `make stubs`
    writes); the committed file, not a learner's working copy (grader.selfcheck.committed_stub)."""
    from grader.selfcheck import committed_stub

    reference = (paths.SOLUTIONS / f"{topic}.py").read_text(encoding="utf-8")
    committed, _ = committed_stub(topic)
    assert committed == make_stub(reference)
    assert "raise NotImplementedError" in committed


def test_fill_blocks_puts_each_body_in_its_block():
    """fill_blocks fills the blocks in order, indenting every body line like its marker."""
    from grader.stubs import fill_blocks

    source = (
        "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n\n"
        "class C:\n    def g(self):\n        ### BEGIN SOLUTION\n        pass\n        ### END SOLUTION\n"
    )
    filled = fill_blocks(source, ["x = 2\nreturn x", "return 3"])
    assert "    x = 2\n    return x\n" in filled
    assert "        return 3\n" in filled
    assert "return 1" not in filled and "pass" not in filled and "###" not in filled


def test_fill_blocks_needs_one_body_per_block():
    """A wrong number of bodies is an error, not a silently half-filled module."""
    from grader.stubs import fill_blocks

    source = "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n"
    with pytest.raises(MarkerError):
        fill_blocks(source, ["return 2", "return 3"])
