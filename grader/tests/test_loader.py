"""The loader (grader/loader.py): a learner's topic file is imported, or refused with one sentence.

Files are written into pytest's tmp_path under the name adam.py, since a topic must be in the catalog.
"""

import sys
from pathlib import Path

import pytest

from grader import paths
from grader.loader import LoadError, load_topic, resolve_impl, topic_file


def write(folder: Path, text: str, name: str = "adam.py") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(folder: Path, escapes: bool = True) -> str:
    with pytest.raises(LoadError) as info:
        load_topic("adam", folder, escapes)
    return str(info.value)


def test_missing_file(tmp_path):
    """A folder without adam.py: the sentence says the file does not exist and names it."""
    message = load_error(tmp_path)
    assert "does not exist" in message
    assert "adam.py" in message


def test_syntax_error_names_the_line(tmp_path):
    """A syntax error is reported with its line number, not as a traceback."""
    write(tmp_path, "import torch\n\ndef adam_step(:\n    pass\n")
    message = load_error(tmp_path)
    assert "syntax error at line 3" in message


def test_exception_at_import_names_exception_and_line(tmp_path):
    """An exception raised while the module is imported: its type, its text and the line it came from."""
    write(tmp_path, "x = 1\nraise ValueError('boom at import')\n")
    message = load_error(tmp_path)
    assert "failed while it was imported at line 2" in message
    assert "ValueError: boom at import" in message


def test_exception_inside_a_helper_reports_the_deepest_learner_line(tmp_path):
    """When import calls a function of the file that fails, the line inside that function is named."""
    write(tmp_path, "def helper():\n    return 1 / 0\n\nVALUE = helper()\n")
    message = load_error(tmp_path)
    assert "at line 2" in message
    assert "ZeroDivisionError" in message


def test_failed_import_leaves_no_module_behind(tmp_path):
    """A module that failed to import is removed from sys.modules again."""
    write(tmp_path, "raise RuntimeError('no')\n")
    before = set(sys.modules)
    load_error(tmp_path)
    assert not [name for name in set(sys.modules) - before if name.startswith("_kata_impl_adam")]


def test_file_that_is_not_utf8(tmp_path):
    """Bytes that are not UTF-8 give a sentence, not a UnicodeDecodeError."""
    (tmp_path / "adam.py").write_bytes(b"x = '\xe9'\n")
    assert "cannot be read as UTF-8" in load_error(tmp_path)


@pytest.mark.parametrize(
    "source, line, text",
    [
        ("import torch\nimport torch.optim\n", 2, "torch.optim"),
        ("import torch\n\nfrom torch import optim\n", 3, "torch.optim"),
        ("import torch as t\n\ndef f(p):\n    return t.optim.Adam([p])\n", 4, "torch.optim.Adam"),
        ("from torch.optim import Adam as A\n", 1, "torch.optim.Adam"),
    ],
    ids=["import-torch-optim", "from-torch-import-optim", "alias-attribute", "from-import-class"],
)
def test_forbidden_api_is_refused_with_its_line(tmp_path, source, line, text):
    """A file that refers to torch.optim (in any spelling) is refused; the sentence names it and the line."""
    write(tmp_path, source)
    message = load_error(tmp_path)
    assert "torch.optim" in message
    assert f"line {line} ({text})" in message
    assert "forbids" in message


def test_forbidden_call_at_import_time_is_refused(tmp_path):
    """A forbidden call hidden from the static checks but made while importing is refused too (the
    escape check, which would refuse getattr first, is left out to test the run-time layer)."""
    write(
        tmp_path,
        "import torch\np = torch.zeros(2, requires_grad=True)\nOPT = getattr(torch, 'op' + 'tim').SGD([p], lr=0.1)\n",
    )
    message = load_error(tmp_path, escapes=False)
    assert "forbidden API while it is imported" in message
    assert "SGD" in message
    assert "getattr" in load_error(tmp_path)  # with every check: the escape check names getattr


def test_clean_file_loads_and_functions_are_callable(tmp_path):
    """A file without problems is imported; its functions and classes can be called."""
    write(
        tmp_path,
        "import torch\n\n"
        "def adam_step(x):\n    return x * 2\n\n"
        "class Adam:\n    def __init__(self, k):\n        self.k = k\n",
    )
    module = load_topic("adam", tmp_path)
    assert module.adam_step(21) == 42
    assert module.Adam(3).k == 3
    assert module.__name__.startswith("_kata_impl_adam_")
    assert Path(module.__file__) == (tmp_path / "adam.py").resolve()


def test_two_folders_load_side_by_side(tmp_path):
    """Two folders' adam.py are two separate modules, neither imported as exercises.adam."""
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    write(one, "WHO = 'one'\n")
    write(two, "WHO = 'two'\n")
    a, b = load_topic("adam", one), load_topic("adam", two)
    assert (a.WHO, b.WHO) == ("one", "two")
    assert a.__name__ != b.__name__
    assert "exercises.adam" not in (a.__name__, b.__name__)


def test_reference_and_stub_load(tmp_path):
    """solutions/adam.py loads and works; the committed exercises/adam.py (not a learner's working
    copy: grader.selfcheck.committed_stub) loads and raises NotImplementedError."""
    import torch

    from grader.selfcheck import committed_stub

    reference = load_topic("adam", paths.SOLUTIONS)
    p = torch.tensor([1.0, -1.0], dtype=torch.float64)
    new_p, _, _ = reference.adam_step(p, p.clone(), torch.zeros_like(p), torch.zeros_like(p), 1, lr=0.1)
    assert torch.allclose(new_p, torch.tensor([0.9, -0.9], dtype=torch.float64))
    (tmp_path / "adam.py").write_text(committed_stub("adam")[0], encoding="utf-8")
    stub = load_topic("adam", tmp_path)
    with pytest.raises(NotImplementedError):
        stub.adam_step(p, p, p, p, 1)


@pytest.mark.parametrize("value", [None, "", "exercises"])
def test_resolve_impl_exercises(value):
    """No value, an empty one or 'exercises' is the project's exercises/ folder."""
    assert resolve_impl(value) == paths.EXERCISES


def test_resolve_impl_solutions():
    """'solutions' is the project's solutions/ folder."""
    assert resolve_impl("solutions") == paths.SOLUTIONS


def test_resolve_impl_other_path(tmp_path, monkeypatch):
    """Any other value is a folder path, made absolute (relative to the current directory)."""
    monkeypatch.chdir(tmp_path)
    assert resolve_impl("submissions/alice") == (tmp_path / "submissions" / "alice").resolve()
    assert resolve_impl(str(tmp_path)) == tmp_path.resolve()
    assert resolve_impl("submissions/alice").is_absolute()


def test_topic_file():
    """topic_file is folder/<topic>.py."""
    assert topic_file("adam", Path("/x/y")) == Path("/x/y/adam.py")


def test_utf8_file_with_bom_loads(tmp_path):
    """A file saved as UTF-8 with a BOM (as some Windows editors do) imports in Python, so it must load."""
    (tmp_path / "adam.py").write_bytes(b"\xef\xbb\xbfdef adam_step():\n    return 7\n")
    assert load_topic("adam", tmp_path).adam_step() == 7


def test_null_byte_sentence_has_no_line_none(tmp_path):
    """A file with a null byte is refused with a sentence that does not say 'line None'."""
    (tmp_path / "adam.py").write_bytes(b"x = 1\x00\n")
    message = load_error(tmp_path)
    assert "null bytes" in message
    assert "line None" not in message
